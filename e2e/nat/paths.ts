/**
 * Which path each of a page's WebRTC connections took: the candidate types of the selected ICE
 * pair (host, srflx, prflx, relay) from RTCPeerConnection.getStats(). The app keeps its
 * connections inside simple-peer, so the tests watch the constructor instead: an init script,
 * run before the app in every page of the context, keeps each RTCPeerConnection it creates.
 */
import type { BrowserContext, Page } from '@playwright/test';

export interface SelectedPair {
  /** Candidate types: host, srflx, prflx, relay. */
  local: string;
  remote: string;
  /** The candidates' addresses, ip:port ('' when the browser hides one, e.g. an mDNS name). */
  localAddress: string;
  remoteAddress: string;
}

declare global {
  interface Window {
    /** Every RTCPeerConnection this page created (watchConnections). */
    __peerConnections?: RTCPeerConnection[];
  }
}

/** Keeps every RTCPeerConnection the context's pages create, for selectedPairs(). */
export async function watchConnections(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const Original = window.RTCPeerConnection;
    const created: RTCPeerConnection[] = (window.__peerConnections = []);
    window.RTCPeerConnection = class extends Original {
      constructor(config?: RTCConfiguration) {
        super(config);
        created.push(this);
      }
    };
  });
}

/** The selected candidate pair of each connection of the page that is connected now. */
export function selectedPairs(page: Page): Promise<SelectedPair[]> {
  return page.evaluate(async () => {
    const pairs: { local: string; remote: string; localAddress: string; remoteAddress: string }[] = [];
    for (const pc of window.__peerConnections ?? []) {
      if (pc.connectionState !== 'connected') continue;
      const reports = new Map<string, Record<string, unknown>>();
      (await pc.getStats()).forEach((report: Record<string, unknown>) => reports.set(report['id'] as string, report));
      const transport = [...reports.values()].find((r) => r['type'] === 'transport' && r['selectedCandidatePairId']);
      const pair = transport ? reports.get(transport['selectedCandidatePairId'] as string) : undefined;
      if (!pair) continue;
      const type = (id: unknown) => String(reports.get(id as string)?.['candidateType'] ?? 'unknown');
      const address = (id: unknown) => {
        const candidate = reports.get(id as string);
        return candidate?.['address'] ? `${String(candidate['address'])}:${String(candidate['port'])}` : '';
      };
      const [local, remote] = [pair['localCandidateId'], pair['remoteCandidateId']];
      pairs.push({ local: type(local), remote: type(remote), localAddress: address(local), remoteAddress: address(remote) });
    }
    return pairs;
  });
}

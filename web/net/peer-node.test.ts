/**
 * Ten real WebRTC nodes (simple-peer + @roamhq/wrtc) bootstrapped through a real signal server:
 * what the browser tests show with tabs, shown first where failures are easy to read.
 *
 * The scenario runs in a child process. @roamhq/wrtc, the native WebRTC used only for tests in
 * Node, has a known crash (a SIGSEGV reading the local description of a connection closed moments
 * before: node-webrtc#696, simple-peer#812) that struck about one run in ten here, when
 * connections open and close quickly. Browsers use their own WebRTC. A run killed by a signal is
 * repeated, up to three runs; a run whose checks fail, or that fails any other way, fails.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

interface Outcome {
  minPeersAfterJoin: number;
  exactBefore: number;
  viaServer: number;
  viaOverlay: number;
  signalsRelayed: number;
  repliesRelayed: number;
  refusedRelays: number;
  exactAfterLeave: number;
}

const SCENARIO = fileURLToPath(new URL('./peer-node.scenario.ts', import.meta.url));
const MAX_RUNS = 3;
let outcome: Outcome;
/** Signals that killed earlier runs. */
const crashes: string[] = [];

function runScenario(): Outcome {
  for (let run = 1; ; run++) {
    const child = spawnSync(process.execPath, ['--import', 'tsx', SCENARIO], { encoding: 'utf8', timeout: 300_000 });
    if (child.signal !== null && child.signal !== 'SIGTERM' && run < MAX_RUNS) {
      crashes.push(child.signal);
      continue;
    }
    if (child.status !== 0) throw new Error(`scenario exited with ${child.status ?? child.signal}:\n${child.stderr}`);
    return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Outcome;
  }
}

describe('ten real WebRTC nodes bootstrapped through the signal server', () => {
  beforeAll(() => {
    outcome = runScenario();
  }, 3 * 300_000 + 10_000);

  it('connects every node to at least 3 authenticated peers', () => {
    expect(outcome.minPeersAfterJoin).toBeGreaterThanOrEqual(3);
  });

  it('finds the true 8 closest of random keys from every node', () => {
    expect(outcome.exactBefore).toBe(1);
  });

  it('signals most connections through the overlay once the first nodes are in', () => {
    expect(outcome.viaOverlay).toBeGreaterThan(outcome.viaServer);
    expect(outcome.signalsRelayed).toBeGreaterThan(0);
  });

  it('sends the server only signaling it relays: every real offer, answer and candidate passes its checks', () => {
    expect(outcome.repliesRelayed).toBeGreaterThan(0);
    expect(outcome.refusedRelays).toBe(0);
  });

  it('drops a node that leaves abruptly and still finds the true closest', () => {
    expect(outcome.exactAfterLeave).toBe(1);
    // Reported, not asserted: how often the native library crashed on the way.
    if (crashes.length > 0) console.warn(`the scenario was killed by ${crashes.join(', ')} and run again`);
  });
});

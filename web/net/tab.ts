/**
 * The tab's connection count, kept in sessionStorage across reloads, and the twin-URL move that
 * keeps a long-lived tab under Chromium's 500-connection cap. (Which identity the tab runs is
 * web/storage/tab-identity.ts; the user's settings are web/storage/settings.ts.)
 *
 * Chromium counts RTCPeerConnections per renderer process for the process's whole life, and a
 * reload keeps the process. Navigating between `/` (no COOP) and `/twin/` (COOP + COEP) swaps the
 * process and so resets the count, while sessionStorage survives (MACHINE-NOTES). So the tab
 * stores its count together with the variant it was counted under: a stored count for the other
 * variant belongs to a process this page does not run in, and the count here starts at 0.
 */
import { isTwinPath, TWIN_PREFIX } from '../../shared/signal/protocol.ts';
import { readItem, readJson, writeItem } from '../storage/web-storage.ts';

const CREATED_KEY = 'peerchat.created';
const MOVES_KEY = 'peerchat.twin-moves';

export type Variant = 'main' | 'twin';
/** What the move needs of `window.location`; tests hand in a plain object. */
export type PageLocation = Pick<Location, 'origin' | 'pathname' | 'search' | 'hash' | 'replace'>;

export function variantOf(pathname: string): Variant {
  return isTwinPath(pathname) ? 'twin' : 'main';
}

/** Same page, other variant: query and hash kept. */
export function twinUrl(location: Omit<PageLocation, 'replace'>): string {
  const path = variantOf(location.pathname) === 'twin' ? '/' : TWIN_PREFIX;
  return `${location.origin}${path}${location.search}${location.hash}`;
}

/** Connections created in this renderer process so far, as this tab last saved it. */
export function loadCreated(storage: Storage, variant: Variant): number {
  const v = readJson(storage, CREATED_KEY) as { variant?: unknown; count?: unknown } | null | undefined;
  if (typeof v !== 'object' || v === null || v.variant !== variant) return 0;
  return typeof v.count === 'number' && Number.isInteger(v.count) && v.count >= 0 && v.count <= 10_000 ? v.count : 0;
}

/**
 * A refused write only risks the browser refusing a connection later, which the transport
 * reports as an exhausted budget.
 */
export function saveCreated(storage: Storage, variant: Variant, count: number): void {
  writeItem(storage, CREATED_KEY, JSON.stringify({ variant, count }));
}

/** Moves to the twin URL; the other variant's process starts with a count of 0. */
export function moveToTwin(storage: Storage, location: PageLocation): void {
  const target = variantOf(location.pathname) === 'twin' ? 'main' : 'twin';
  saveCreated(storage, target, 0);
  writeItem(storage, MOVES_KEY, String(twinMoves(storage) + 1));
  location.replace(twinUrl(location));
}

/** How many times this tab has moved to its twin URL (shown, and read by tests). */
export function twinMoves(storage: Storage): number {
  const n = Number(readItem(storage, MOVES_KEY) ?? 0);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

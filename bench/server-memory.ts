/**
 * A server process's memory as the server benches read it (signal-server-rss.ts, deploy.ts):
 * process.memoryUsage() after forced collections, and a wait for V8 to give back the young
 * generation a burst of connections grew. Runs in the measured process (needs --expose-gc).
 */
import { getHeapSpaceStatistics } from 'node:v8';

export type Memory = Pick<NodeJS.MemoryUsage, 'rss' | 'heapUsed' | 'external'> & { newSpace: number };

/** The young generation of a fresh node process: 1 MiB of semi-space, about half committed. */
const SETTLED_NEW_SPACE_BYTES = 1024 * 1024;
const SETTLE_TIMEOUT_MS = 40_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function newSpaceBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.physical_space_size ?? 0;
}

/**
 * Waits for V8 to shrink the young generation back to its initial size. A burst of allocation
 * (2,000 handshakes) grows it to some 20 MiB, which a forced gc empties but does not give back;
 * V8's memory reducer does, some seconds after the process goes quiet. That memory depends on
 * the allocation rate, not on how many tabs are connected, so it is not a per-connection cost.
 * Polls without collecting, so the server waits as quietly as an idle one would.
 */
export async function settle(timeoutMs = SETTLE_TIMEOUT_MS): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (newSpaceBytes() > SETTLED_NEW_SPACE_BYTES) {
    if (Date.now() > deadline) return false;
    await sleep(250);
  }
  return true;
}

export async function collectedMemory(): Promise<Memory> {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error('the measured process needs --expose-gc');
  // Several full collections with turns between them, so finalizers and weak callbacks that a
  // collection schedules have run and their garbage goes in the next one.
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(50);
  }
  const { rss, heapUsed, external } = process.memoryUsage();
  return { rss, heapUsed, external, newSpace: newSpaceBytes() };
}

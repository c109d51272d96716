/**
 * The LevelDB store keeps the Store contract (the same suite as MemoryStore and the IndexedDB
 * store), keeps what it committed across a reopen, reads damaged values as absent, and loses
 * nothing it acknowledged when its process is killed with SIGKILL in the middle of writing.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import { afterAll, describe, expect, it } from 'vitest';
import { storeContract } from '../../shared/lib/store-contract.ts';
import { STORE_TABLES } from '../storage/idb-store.ts';
import { openLevelStore } from './level-store.ts';

const root = mkdtempSync(join(tmpdir(), 'peerchat-level-'));
let serial = 0;
const freshDir = () => join(root, `db-${++serial}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

storeContract('LevelDB (classic-level)', () => openLevelStore(freshDir()));

describe('LevelDB store', () => {
  it('keeps every table’s data across closing and reopening the folder', async () => {
    const dir = freshDir();
    const first = await openLevelStore(dir);
    await first.batch(STORE_TABLES.map((table) => ({ type: 'put' as const, table, key: 'k', value: { table, bytes: new Uint8Array([1, 2]) } })));
    await first.close();
    const second = await openLevelStore(dir);
    for (const table of STORE_TABLES) expect(await second.get(table, 'k')).toEqual({ table, bytes: new Uint8Array([1, 2]) });
    await second.close();
  });

  it('reads a damaged value as absent, reports it and keeps the rest of the table', async () => {
    const dir = freshDir();
    const store = await openLevelStore(dir);
    await store.put('mailbox', 'a', { ok: 1 });
    await store.put('mailbox', 'c', { ok: 3 });
    await store.close();
    const raw = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await raw.put('mailbox!b', Uint8Array.of(1, 2, 3, 4, 5));
    await raw.put('mailbox!d', new Uint8Array(0));
    await raw.close();
    const bad: string[] = [];
    const reopened = await openLevelStore(dir, { onBadValue: (table, key) => bad.push(`${table}/${key}`) });
    expect(await reopened.entries('mailbox')).toEqual([
      ['a', { ok: 1 }],
      ['c', { ok: 3 }],
    ]);
    expect(await reopened.get('mailbox', 'b')).toBeUndefined();
    expect(bad).toEqual(['mailbox/b', 'mailbox/d', 'mailbox/b']);
    await reopened.close();
  });

  it('refuses a second opener of one folder with a message that says why', async () => {
    const dir = freshDir();
    const first = await openLevelStore(dir);
    await expect(openLevelStore(dir)).rejects.toThrow(/another process/);
    await first.close();
  });

  it('refuses operations after close, and close twice is fine', async () => {
    const store = await openLevelStore(freshDir());
    await store.close();
    await store.close();
    await expect(store.get('meta', 'x')).rejects.toBeDefined();
    await expect(store.put('meta', 'x', 1)).rejects.toBeDefined();
  });

  it('loses no acknowledged write when the writing process is killed with SIGKILL', async () => {
    const dir = freshDir();
    const acked = await killWriterAfter(dir, 300);
    expect(acked).toBeGreaterThanOrEqual(300);
    const store = await openLevelStore(dir);
    const mail = await store.entries<{ n: number; bytes: Uint8Array }>('mailbox');
    const seen = new Map(await store.entries<number>('seen'));
    const held = new Map(mail.map(([k, v]) => [k, v]));
    for (let n = 0; n < acked; n++) {
      expect(held.get(`m${n}`)?.n, `acknowledged write ${n}`).toBe(n);
      expect(held.get(`m${n}`)?.bytes[0]).toBe(n % 256);
      expect(seen.get(`s${n}`)).toBe(n);
    }
    // A batch is all or nothing: the one the kill interrupted is wholly there or wholly gone.
    expect(mail.length).toBe(seen.size);
    await store.close();
  }, 60_000);
});

const WRITER = fileURLToPath(new URL('./level-store.crash-writer.ts', import.meta.url));

/** Runs the writer, SIGKILLs it the moment it has acknowledged `n` writes; how many it acknowledged. */
function killWriterAfter(dir: string, n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let acked = 0;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) if (line.startsWith('ack ')) acked = Number(line.slice(4)) + 1;
      if (acked >= n && child.exitCode === null && !child.killed) child.kill('SIGKILL');
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(acked);
      else reject(new Error(`writer exited with ${code ?? signal} before the kill:\n${err}`));
    });
  });
}

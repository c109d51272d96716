/**
 * Writes through a LevelStore as fast as it can and prints "ack <n>" after each write resolves:
 * level-store.test.ts kills this process with SIGKILL mid-write and checks that every write it
 * saw acknowledged is on disk. Each write is a batch of two tables, as a holder's commits are.
 */
import { openLevelStore } from './level-store.ts';

const dir = process.argv[2];
if (!dir) throw new Error('usage: level-store.crash-writer.ts <dir>');
const store = await openLevelStore(dir);
process.stdout.write('ready\n');
for (let n = 0; ; n++) {
  await store.batch([
    { type: 'put', table: 'mailbox', key: `m${n}`, value: { n, bytes: new Uint8Array(512).fill(n % 256) } },
    { type: 'put', table: 'seen', key: `s${n}`, value: n },
  ]);
  process.stdout.write(`ack ${n}\n`);
}

/**
 * `npm run peer -- --signal http://localhost:8080 --data ./peer-data [--status-port 9090]`:
 * a headless Peerchat node (headless-node.ts) until SIGTERM or Ctrl+C, which stop it cleanly
 * (routing snapshot saved, store closed, exit 0). Bad arguments are one line on stderr and
 * exit 2; a node that cannot start (its data folder in use, say) is one line and exit 1.
 */
import { parseCli } from './args.ts';
import { createLog } from './log.ts';
import { messageOf, openHeadlessNode, type HeadlessNode } from './headless-node.ts';
import { startStatusServer, type StatusServer } from './status.ts';

async function main(): Promise<void> {
  const parsed = parseCli(process.argv.slice(2));
  if (!parsed.ok) {
    (parsed.help ? console.log : console.error)(parsed.message);
    process.exit(parsed.help ? 0 : 2);
  }
  const { args } = parsed;
  const log = createLog();
  process.on('unhandledRejection', (err) => log('error', { what: 'unhandled rejection', error: messageOf(err) }));
  // State unknown: say so in the log's format and exit; what was acknowledged is on disk.
  process.on('uncaughtException', (err) => {
    log('error', { what: 'uncaught exception, exiting', error: messageOf(err) });
    process.exit(1);
  });
  log('starting', { signal: args.signalUrl, data: args.dataDir });
  let node: HeadlessNode;
  try {
    node = await openHeadlessNode({ signalUrl: args.signalUrl, dataDir: args.dataDir, log });
  } catch (err) {
    console.error(`Cannot start: ${messageOf(err)}`);
    process.exit(1);
  }
  let status: StatusServer | null = null;
  let stopping = false;
  const stop = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log('stopping', { why });
    await status?.close();
    await node.close();
    log('stopped', { id: node.peer.node.hex });
    process.exit(0);
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void stop(sig));
  if (args.statusPort !== null) {
    try {
      status = await startStatusServer(args.statusPort, () => node.status());
      log('status', { url: `http://127.0.0.1:${status.port}/status` });
    } catch (err) {
      console.error(`Cannot serve status on 127.0.0.1:${args.statusPort}: ${messageOf(err)}`);
      await node.close();
      process.exit(1);
    }
  }
  try {
    await node.start();
  } catch (err) {
    if (stopping) return;
    log('error', { what: 'could not join', error: messageOf(err) });
    await node.close();
    process.exit(1);
  }
}

await main();

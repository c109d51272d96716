/**
 * The headless node's command line (main.ts), parsed with node:util parseArgs: the arguments,
 * or one line saying what to type instead.
 */
import { parseArgs } from 'node:util';

const USAGE = 'usage: npm run peer -- --signal <http(s)://host:port> --data <folder> [--status-port <port>]';

export interface CliArgs {
  signalUrl: string;
  dataDir: string;
  statusPort: number | null;
}

/** The arguments, or a one-line message saying what to type instead. */
export function parseCli(argv: string[]): { ok: true; args: CliArgs } | { ok: false; message: string; help?: boolean } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { signal: { type: 'string' }, data: { type: 'string' }, 'status-port': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return { ok: false, message: `${err instanceof Error ? err.message : String(err)}; see --help` };
  }
  if (values.help) return { ok: false, message: USAGE, help: true };
  if (!values.signal) return { ok: false, message: `--signal is required: the signal server's URL, e.g. http://localhost:8080; see --help` };
  if (!values.data) return { ok: false, message: `--data is required: the folder this node keeps its identity and held mail in; see --help` };
  let url: URL;
  try {
    url = new URL(values.signal);
  } catch {
    return { ok: false, message: `--signal must be a URL such as http://localhost:8080, not "${values.signal}"` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, message: `--signal must start with http:// or https://, not "${url.protocol}"` };
  let statusPort: number | null = null;
  if (values['status-port'] !== undefined) {
    statusPort = Number(values['status-port']);
    if (!/^\d+$/.test(values['status-port']) || statusPort > 65535) return { ok: false, message: `--status-port must be a port number (0-65535), not "${values['status-port']}"` };
  }
  return { ok: true, args: { signalUrl: url.origin + '/', dataDir: values.data, statusPort } };
}

/**
 * TLS_CERT and TLS_KEY, read for main.ts: both set gives the server's `tls` option, neither gives
 * plain http, anything else a message that says what to do. The file reader comes in from
 * outside so the tests need no files.
 */
import type { SignalServerOptions } from './server.ts';

export type TlsFromEnv =
  | { ok: true; tls: SignalServerOptions['tls'] }
  | { ok: false; message: string };

const BOTH = 'Set both TLS_CERT and TLS_KEY (paths to PEM files) to serve HTTPS, or neither for plain http.';

export function tlsFromEnv(
  env: Record<string, string | undefined>,
  readFile: (path: string) => Buffer,
): TlsFromEnv {
  const certPath = env['TLS_CERT'] || undefined;
  const keyPath = env['TLS_KEY'] || undefined;
  if (!certPath && !keyPath) return { ok: true, tls: undefined };
  if (!certPath) return { ok: false, message: `TLS_KEY is set but TLS_CERT is not. ${BOTH}` };
  if (!keyPath) return { ok: false, message: `TLS_CERT is set but TLS_KEY is not. ${BOTH}` };
  const cert = readPem('TLS_CERT', certPath, readFile);
  if (typeof cert === 'string') return { ok: false, message: cert };
  const key = readPem('TLS_KEY', keyPath, readFile);
  if (typeof key === 'string') return { ok: false, message: key };
  return { ok: true, tls: { cert, key } };
}

/** The file's bytes, or a message naming the variable and why the file could not be read. */
function readPem(name: string, path: string, readFile: (path: string) => Buffer): Buffer | string {
  try {
    return readFile(path);
  } catch (err) {
    const reason = (err as { code?: string }).code ?? String(err);
    return `${name} is "${path}", which cannot be read (${reason}). Point ${name} at a readable PEM file.`;
  }
}

/**
 * ALLOWED_ORIGINS, read for main.ts the way tls-env.ts reads TLS_CERT: unset gives no list (the
 * server's own origin only, server.ts `originAllowed`); set, a comma-separated list of origins
 * such as `https://chat.example.org,https://peerchat.example.net`, each exactly an origin
 * (scheme, host, optional port: no path, query or trailing slash), or a one-line message.
 */
export type OriginsFromEnv = { ok: true; origins: string[] | undefined } | { ok: false; message: string };

/** More would be a configuration mistake, and each upgrade checks the list. */
const MAX_ORIGINS = 32;

export function originsFromEnv(env: Record<string, string | undefined>): OriginsFromEnv {
  const raw = env['ALLOWED_ORIGINS'];
  if (raw === undefined || raw.trim() === '') return { ok: true, origins: undefined };
  const entries = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (entries.length > MAX_ORIGINS) return { ok: false, message: `ALLOWED_ORIGINS lists ${entries.length} origins; at most ${MAX_ORIGINS}.` };
  for (const entry of entries) {
    let url: URL | null = null;
    try {
      url = new URL(entry);
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== entry) {
      return { ok: false, message: `ALLOWED_ORIGINS entries must be origins like https://chat.example.org (no path or trailing slash), not "${entry}".` };
    }
  }
  return { ok: true, origins: entries };
}

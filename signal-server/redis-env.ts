/**
 * REDIS_URL, read for main.ts the way tls-env.ts reads TLS_CERT and TLS_KEY: unset gives the
 * embedded one-process backend, a redis:// or rediss:// URL gives RedisBackend, anything else
 * one line that says what to do. The message never repeats the value (it may hold a password).
 */
export type RedisFromEnv = { ok: true; url: string | undefined } | { ok: false; message: string };

const EXAMPLE = 'redis://127.0.0.1:6379, or rediss://user:password@host:6380/0';
/** Longer is not a URL someone meant to type. */
const MAX_URL_CHARS = 2_048;

export function redisFromEnv(env: Record<string, string | undefined>): RedisFromEnv {
  const raw = env['REDIS_URL']?.trim();
  if (!raw) return { ok: true, url: undefined };
  let url: URL | null = null;
  try {
    url = raw.length <= MAX_URL_CHARS ? new URL(raw) : null;
  } catch {
    url = null;
  }
  if (!url || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || !url.hostname) {
    return { ok: false, message: `REDIS_URL must be a redis:// or rediss:// URL with a host (e.g. ${EXAMPLE}); unset it to run one process alone.` };
  }
  if (url.pathname !== '' && url.pathname !== '/' && !/^\/\d{1,2}$/.test(url.pathname)) {
    return { ok: false, message: `REDIS_URL's path must be a database number such as /0, not "${url.pathname}".` };
  }
  return { ok: true, url: raw };
}

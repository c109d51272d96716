/**
 * STUN_URLS, TURN_URLS, TURN_SECRET and TURN_TTL_S, read for main.ts the way tls-env.ts reads
 * TLS_CERT and TLS_KEY: none set gives no ICE servers (tabs use host candidates only), a good
 * set gives the hub's `ice` option, anything else one line that says what to do. The messages
 * never contain TURN_SECRET's value.
 */
import { MAX_ICE_TTL_S, MAX_ICE_URL_CHARS, MAX_ICE_URLS, STUN_URL, TURN_URL } from '../shared/signal/protocol.ts';
import { DEFAULT_TURN_TTL_S, type IceConfig } from './ice.ts';

export type IceFromEnv = { ok: true; ice: IceConfig | undefined } | { ok: false; message: string };

const PAIR = 'Set both TURN_URLS and TURN_SECRET (coturn\'s static-auth-secret) to hand out TURN, or neither.';

export function iceFromEnv(env: Record<string, string | undefined>): IceFromEnv {
  const stun = urlList(env, 'STUN_URLS', STUN_URL, 'stun: or stuns:');
  if (typeof stun === 'string') return { ok: false, message: stun };
  const turn = urlList(env, 'TURN_URLS', TURN_URL, 'turn: or turns:');
  if (typeof turn === 'string') return { ok: false, message: turn };
  const secret = env['TURN_SECRET'] || undefined;
  if (turn.length > 0 && !secret) return { ok: false, message: `TURN_URLS is set but TURN_SECRET is not. ${PAIR}` };
  if (turn.length === 0 && secret) return { ok: false, message: `TURN_SECRET is set but TURN_URLS is not. ${PAIR}` };
  const ttlS = ttlFromEnv(env['TURN_TTL_S']);
  if (typeof ttlS === 'string') return { ok: false, message: ttlS };
  if (stun.length === 0 && turn.length === 0) return { ok: true, ice: undefined };
  return { ok: true, ice: { stunUrls: stun, turnUrls: turn, ...(secret ? { turnSecret: secret } : {}), ttlS } };
}

/** The comma-separated URLs of one variable, or a message naming the variable and the bad URL. */
function urlList(env: Record<string, string | undefined>, name: string, shape: RegExp, schemes: string): string[] | string {
  const raw = env[name]?.trim();
  if (!raw) return [];
  const urls = raw.split(',').map((url) => url.trim());
  if (urls.length > MAX_ICE_URLS) return `${name} has ${urls.length} URLs; give at most ${MAX_ICE_URLS}.`;
  for (const url of urls) {
    if (url.length > MAX_ICE_URL_CHARS) return `${name} has a URL over ${MAX_ICE_URL_CHARS} characters; shorten it.`;
    if (!shape.test(url)) return `${name} has "${url}", which is not a ${schemes} URL (e.g. ${schemes.split(' ')[0]}example.org:3478).`;
  }
  return urls;
}

/** TURN_TTL_S in seconds (default 12 h), or a message. */
function ttlFromEnv(raw: string | undefined): number | string {
  if (raw === undefined || raw.trim() === '') return DEFAULT_TURN_TTL_S;
  const ttl = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(ttl) || ttl < 1 || ttl > MAX_ICE_TTL_S) {
    return `TURN_TTL_S must be a whole number of seconds from 1 to ${MAX_ICE_TTL_S}, not "${raw}".`;
  }
  return ttl;
}

/**
 * The ICE servers the signal server hands each authenticated tab (shared/signal/protocol.ts,
 * the `ice` frame): its STUN URLs as they are, and for TURN short-lived credentials minted per
 * node the way coturn's `--use-auth-secret` checks them (the "TURN REST API"): username
 * `<unix expiry seconds>:<node id hex>`, credential base64(HMAC-SHA1(secret, username)).
 * The secret stays in this process: never sent, never logged.
 */
import type { IceServerEntry, ServerMessageOf } from '../shared/signal/protocol.ts';

export interface IceConfig {
  stunUrls: string[];
  turnUrls: string[];
  /** coturn's static-auth-secret; set exactly when turnUrls is not empty. */
  turnSecret?: string;
  /** How long a minted credential is valid. */
  ttlS: number;
}

/** Twelve hours: a tab renews well before, so a short lifetime costs one frame per few hours. */
export const DEFAULT_TURN_TTL_S = 43_200;

/** base64(HMAC-SHA1(secret, username)), with WebCrypto (no crypto dependency). */
export async function turnCredential(secret: string, username: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await globalThis.crypto.subtle.importKey(
    'raw',
    encoder.encode(secret),
    { name: 'HMAC', hash: 'SHA-1' },
    false,
    ['sign'],
  );
  const mac = await globalThis.crypto.subtle.sign('HMAC', key, encoder.encode(username));
  return Buffer.from(mac).toString('base64');
}

/**
 * The `ice` frame for one node at `nowMs`: null when there is nothing to send (no variables
 * set), so a server without ICE servers behaves exactly as before. `ttlS` is sent only with
 * TURN, whose credentials expire; STUN URLs never do.
 */
export async function iceFrameFor(config: IceConfig | undefined, nodeHex: string, nowMs: number): Promise<ServerMessageOf<'ice'> | null> {
  if (!config) return null;
  const servers: IceServerEntry[] = [];
  if (config.stunUrls.length > 0) servers.push({ urls: config.stunUrls });
  if (config.turnUrls.length === 0 || config.turnSecret === undefined) {
    return servers.length > 0 ? { type: 'ice', servers } : null;
  }
  const username = `${Math.floor(nowMs / 1000) + config.ttlS}:${nodeHex}`;
  const credential = await turnCredential(config.turnSecret, username);
  servers.push({ urls: config.turnUrls, username, credential });
  return { type: 'ice', servers, ttlS: config.ttlS };
}

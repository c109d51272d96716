import { describe, expect, it } from 'vitest';
import { MAX_ICE_TTL_S, MAX_ICE_URLS } from '../shared/signal/protocol.ts';
import { DEFAULT_TURN_TTL_S } from './ice.ts';
import { iceFromEnv } from './ice-env.ts';

const SECRET = 'hunter2-static-auth-secret';

function refusal(env: Record<string, string>): string {
  const result = iceFromEnv(env);
  if (result.ok) throw new Error('expected a refusal');
  expect(result.message).not.toContain('\n');
  expect(result.message).not.toContain(SECRET);
  return result.message;
}

describe('iceFromEnv', () => {
  it('gives no ICE servers when no variable is set, or all are empty', () => {
    expect(iceFromEnv({})).toEqual({ ok: true, ice: undefined });
    expect(iceFromEnv({ STUN_URLS: '', TURN_URLS: ' ', TURN_SECRET: '' })).toEqual({ ok: true, ice: undefined });
  });

  it('reads STUN alone, trimming each comma-separated URL', () => {
    expect(iceFromEnv({ STUN_URLS: 'stun:a.example:3478, stuns:b.example' })).toEqual({
      ok: true,
      ice: { stunUrls: ['stun:a.example:3478', 'stuns:b.example'], turnUrls: [], ttlS: DEFAULT_TURN_TTL_S },
    });
  });

  it('reads TURN with its secret and the default lifetime of 12 hours', () => {
    const result = iceFromEnv({ TURN_URLS: 'turn:t.example:3478?transport=udp,turns:t.example:5349', TURN_SECRET: SECRET });
    expect(result).toEqual({
      ok: true,
      ice: {
        stunUrls: [],
        turnUrls: ['turn:t.example:3478?transport=udp', 'turns:t.example:5349'],
        turnSecret: SECRET,
        ttlS: 43_200,
      },
    });
  });

  it('reads TURN_TTL_S in seconds', () => {
    const result = iceFromEnv({ TURN_URLS: 'turn:t.example', TURN_SECRET: SECRET, TURN_TTL_S: '600' });
    expect(result.ok && result.ice?.ttlS).toBe(600);
  });

  it('refuses a STUN URL with another scheme, naming the variable and the URL', () => {
    expect(refusal({ STUN_URLS: 'stun:a.example,turn:b.example' })).toMatch(/^STUN_URLS has "turn:b\.example", which is not a stun: or stuns: URL/);
    expect(refusal({ STUN_URLS: 'http://a.example' })).toMatch(/^STUN_URLS has "http:\/\/a\.example"/);
  });

  it('refuses a TURN URL with another scheme', () => {
    expect(refusal({ TURN_URLS: 'stun:t.example', TURN_SECRET: SECRET })).toMatch(/^TURN_URLS has "stun:t\.example", which is not a turn: or turns: URL/);
  });

  it('refuses an empty item, a URL with a space and too many URLs', () => {
    expect(refusal({ STUN_URLS: 'stun:a.example,,stun:b.example' })).toMatch(/^STUN_URLS has ""/);
    expect(refusal({ STUN_URLS: 'stun:a b' })).toMatch(/^STUN_URLS has "stun:a b"/);
    const many = Array.from({ length: MAX_ICE_URLS + 1 }, (_, i) => `stun:s${i}.example`).join(',');
    expect(refusal({ STUN_URLS: many })).toBe(`STUN_URLS has ${MAX_ICE_URLS + 1} URLs; give at most ${MAX_ICE_URLS}.`);
    expect(refusal({ STUN_URLS: `stun:${'a'.repeat(300)}` })).toMatch(/^STUN_URLS has a URL over 256 characters/);
  });

  it('refuses TURN_URLS without TURN_SECRET, and the reverse', () => {
    expect(refusal({ TURN_URLS: 'turn:t.example' })).toMatch(/^TURN_URLS is set but TURN_SECRET is not\. Set both/);
    expect(refusal({ TURN_SECRET: SECRET })).toMatch(/^TURN_SECRET is set but TURN_URLS is not\./);
    expect(refusal({ STUN_URLS: 'stun:a.example', TURN_SECRET: SECRET })).toMatch(/^TURN_SECRET is set but TURN_URLS is not\./);
  });

  it('refuses a TURN_TTL_S that is not a positive whole number of seconds up to a week', () => {
    for (const bad of ['0', '-5', '1.5', '12h', '1e3', String(MAX_ICE_TTL_S + 1)]) {
      expect(refusal({ TURN_URLS: 'turn:t.example', TURN_SECRET: SECRET, TURN_TTL_S: bad })).toBe(
        `TURN_TTL_S must be a whole number of seconds from 1 to ${MAX_ICE_TTL_S}, not "${bad}".`,
      );
    }
  });
});

import { describe, expect, it } from 'vitest';
import { originsFromEnv } from './origins-env.ts';
import { originAllowed } from './server.ts';

describe('ALLOWED_ORIGINS', () => {
  it('gives no list when unset or empty: the server\'s own origin only', () => {
    expect(originsFromEnv({})).toEqual({ ok: true, origins: undefined });
    expect(originsFromEnv({ ALLOWED_ORIGINS: ' ' })).toEqual({ ok: true, origins: undefined });
  });

  it('reads a comma-separated list of origins', () => {
    expect(originsFromEnv({ ALLOWED_ORIGINS: 'https://chat.example.org, http://localhost:8080' })).toEqual({
      ok: true,
      origins: ['https://chat.example.org', 'http://localhost:8080'],
    });
  });

  it('refuses what is not exactly an origin, naming the entry', () => {
    for (const bad of ['https://chat.example.org/', 'https://chat.example.org/app', 'chat.example.org', 'ftp://x.org', 'https://x.org?a=1', '*']) {
      const result = originsFromEnv({ ALLOWED_ORIGINS: bad });
      expect(result.ok, bad).toBe(false);
      if (!result.ok) expect(result.message).toContain(`"${bad}"`);
    }
  });
});

describe('which pages may open /signal', () => {
  it('admits clients that send no Origin (not browsers) and pages of the server\'s own origin', () => {
    expect(originAllowed(undefined, 'chat.example.org', true, undefined)).toBe(true);
    expect(originAllowed('https://chat.example.org', 'chat.example.org', true, undefined)).toBe(true);
    expect(originAllowed('http://127.0.0.1:8080', '127.0.0.1:8080', false, undefined)).toBe(true);
  });

  it('refuses another site\'s page, and the same host over the other scheme', () => {
    expect(originAllowed('https://evil.example', 'chat.example.org', true, undefined)).toBe(false);
    expect(originAllowed('http://chat.example.org', 'chat.example.org', true, undefined)).toBe(false);
    expect(originAllowed('https://chat.example.org', undefined, true, undefined)).toBe(false);
  });

  it('with a list, admits exactly the listed origins', () => {
    const list = ['https://chat.example.org'];
    expect(originAllowed('https://chat.example.org', 'internal:8080', false, list)).toBe(true);
    expect(originAllowed('http://internal:8080', 'internal:8080', false, list)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { tlsFromEnv } from './tls-env.ts';

const files: Record<string, string> = { '/c.pem': 'CERT', '/k.pem': 'KEY' };
function readFile(path: string): Buffer {
  const text = files[path];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return Buffer.from(text);
}

describe('tlsFromEnv', () => {
  it('gives plain http when neither TLS_CERT nor TLS_KEY is set', () => {
    expect(tlsFromEnv({}, readFile)).toEqual({ ok: true, tls: undefined });
    expect(tlsFromEnv({ TLS_CERT: '', TLS_KEY: '' }, readFile)).toEqual({ ok: true, tls: undefined });
  });

  it('reads both files when both are set', () => {
    const result = tlsFromEnv({ TLS_CERT: '/c.pem', TLS_KEY: '/k.pem' }, readFile);
    expect(result).toEqual({ ok: true, tls: { cert: Buffer.from('CERT'), key: Buffer.from('KEY') } });
  });

  it('refuses TLS_CERT without TLS_KEY, naming the missing variable', () => {
    const result = tlsFromEnv({ TLS_CERT: '/c.pem' }, readFile);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(/^TLS_CERT is set but TLS_KEY is not\. Set both/);
  });

  it('refuses TLS_KEY without TLS_CERT, naming the missing variable', () => {
    const result = tlsFromEnv({ TLS_KEY: '/k.pem' }, readFile);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(/^TLS_KEY is set but TLS_CERT is not\./);
  });

  it('names the variable whose file cannot be read, with the reason', () => {
    const result = tlsFromEnv({ TLS_CERT: '/c.pem', TLS_KEY: '/missing.pem' }, readFile);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.message).toContain('TLS_KEY is "/missing.pem", which cannot be read (ENOENT)');
      expect(result.message).not.toContain('TLS_CERT');
    }
  });
});

import { describe, expect, it } from 'vitest';
import { redisFromEnv } from './redis-env.ts';

describe('REDIS_URL', () => {
  it('picks no Redis when unset or empty', () => {
    expect(redisFromEnv({})).toEqual({ ok: true, url: undefined });
    expect(redisFromEnv({ REDIS_URL: ' ' })).toEqual({ ok: true, url: undefined });
  });

  it('takes redis:// and rediss:// URLs, with credentials and a database number', () => {
    for (const url of ['redis://127.0.0.1:6379', 'rediss://user:pw@cache.example.org:6380/2', 'redis://localhost']) {
      expect(redisFromEnv({ REDIS_URL: url })).toEqual({ ok: true, url });
    }
  });

  it('refuses anything else in one line that never repeats the value, which may hold a password', () => {
    for (const url of ['localhost:6379', 'http://user:secret@host', 'redis://', 'not a url secret', 'redis://h/x']) {
      const result = redisFromEnv({ REDIS_URL: url });
      expect(result.ok).toBe(false);
      if (result.ok) continue;
      expect(result.message).toMatch(/^REDIS_URL/);
      expect(result.message).not.toContain('secret');
      expect(result.message.split('\n')).toHaveLength(1);
    }
  });
});

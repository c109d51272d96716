import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../storage/web-storage.ts';
import { loadCreated, saveCreated, twinUrl, variantOf } from './tab.ts';

describe('the tab’s connection count and twin URL', () => {
  it('tells the two variants apart by path', () => {
    expect(variantOf('/')).toBe('main');
    expect(variantOf('/index.html')).toBe('main');
    expect(variantOf('/twin/')).toBe('twin');
    expect(variantOf('/twin')).toBe('twin');
    expect(variantOf('/twinkle')).toBe('main');
  });

  it('sends each variant to the other, keeping query and hash', () => {
    const at = (pathname: string) => ({ origin: 'http://localhost:8080', pathname, search: '?a=1', hash: '#x' });
    expect(twinUrl(at('/'))).toBe('http://localhost:8080/twin/?a=1#x');
    expect(twinUrl(at('/twin/'))).toBe('http://localhost:8080/?a=1#x');
  });

  it('keeps the count across reloads of one variant and starts from 0 in the other process', () => {
    const storage = new MemoryStorage();
    expect(loadCreated(storage, 'main')).toBe(0);
    saveCreated(storage, 'main', 123);
    expect(loadCreated(storage, 'main')).toBe(123);
    expect(loadCreated(storage, 'twin')).toBe(0);
  });

  it('reads a corrupt or absurd stored count as 0', () => {
    const storage = new MemoryStorage();
    for (const bad of ['{', '"x"', '{"variant":"main","count":-1}', '{"variant":"main","count":1.5}', '{"variant":"main","count":1e9}']) {
      storage.setItem('peerchat.created', bad);
      expect(loadCreated(storage, 'main')).toBe(0);
    }
  });
});

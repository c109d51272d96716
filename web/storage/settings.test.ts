import { describe, expect, it } from 'vitest';
import { iceServers, loadSettings, saveSetting } from './settings.ts';
import { MemoryStorage } from './web-storage.ts';

describe('the user’s settings', () => {
  it('start at their defaults in a browser that never saved any', () => {
    expect(loadSettings(new MemoryStorage())).toEqual({ stunUrl: '' });
  });

  it('keep a saved value across loads, trimmed', () => {
    const storage = new MemoryStorage();
    expect(saveSetting(storage, 'stunUrl', ' stun:stun.example.org:3478 ')).toEqual({ ok: true, value: 'stun:stun.example.org:3478' });
    expect(loadSettings(storage).stunUrl).toBe('stun:stun.example.org:3478');
  });

  it('refuse an invalid value with what to type instead, and keep the saved one', () => {
    const storage = new MemoryStorage();
    saveSetting(storage, 'stunUrl', 'stun:stun.example.org');
    for (const bad of ['http://evil.example', 'turn:relay.example.org', 'stun:', 'stun:a b', `stun:${'a'.repeat(300)}`, 42]) {
      expect(saveSetting(storage, 'stunUrl', bad)).toEqual({ ok: false, message: 'A STUN server looks like stun:stun.example.org:3478' });
    }
    expect(loadSettings(storage).stunUrl).toBe('stun:stun.example.org');
  });

  it('forget a setting saved back to its default', () => {
    const storage = new MemoryStorage();
    saveSetting(storage, 'stunUrl', 'stun:stun.example.org');
    expect(saveSetting(storage, 'stunUrl', '  ')).toEqual({ ok: true, value: '' });
    expect(loadSettings(storage).stunUrl).toBe('');
    expect(JSON.parse(storage.getItem('peerchat.settings')!)).toEqual({});
  });

  it('read a stored value that fails its check as the default, and a stored mess as all defaults', () => {
    const storage = new MemoryStorage();
    storage.setItem('peerchat.settings', JSON.stringify({ stunUrl: 'javascript:alert(1)' }));
    expect(loadSettings(storage).stunUrl).toBe('');
    for (const mess of ['{"stunUrl":', '[1,2]', 'null', '"stun:x"', JSON.stringify({ stunUrl: { urls: 'stun:x' } })]) {
      storage.setItem('peerchat.settings', mess);
      expect(loadSettings(storage), mess).toEqual({ stunUrl: '' });
    }
  });

  it('keep settings this version does not know when saving one it does', () => {
    const storage = new MemoryStorage();
    storage.setItem('peerchat.settings', JSON.stringify({ fromNewerVersion: [1] }));
    saveSetting(storage, 'stunUrl', 'stun:stun.example.org');
    expect(JSON.parse(storage.getItem('peerchat.settings')!)).toEqual({ fromNewerVersion: [1], stunUrl: 'stun:stun.example.org' });
  });

  it('move a STUN URL saved under the old key to the new one, checked like any other', () => {
    const storage = new MemoryStorage();
    storage.setItem('peerchat.stun', 'stun:stun.example.org:3478');
    expect(loadSettings(storage).stunUrl).toBe('stun:stun.example.org:3478');
    expect(storage.getItem('peerchat.stun')).toBeNull();
    expect(loadSettings(storage).stunUrl).toBe('stun:stun.example.org:3478');
    const bad = new MemoryStorage();
    bad.setItem('peerchat.stun', 'javascript:alert(1)');
    expect(loadSettings(bad).stunUrl).toBe('');
  });

  it('say so when the browser refuses to store a setting', () => {
    const full = new MemoryStorage();
    full.setItem = () => {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    };
    const saved = saveSetting(full, 'stunUrl', 'stun:stun.example.org');
    expect(saved.ok).toBe(false);
    expect(loadSettings(full).stunUrl).toBe('');
  });

  it('give the transport a STUN server only when one is set', () => {
    expect(iceServers({ stunUrl: '' })).toEqual([]);
    expect(iceServers({ stunUrl: 'stun:stun.example.org' })).toEqual([{ urls: 'stun:stun.example.org' }]);
  });
});

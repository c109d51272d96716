import { describe, expect, it } from 'vitest';
import { iceServers, loadSettings, saveSettings, type Settings } from './settings.ts';
import { MemoryStorage } from './web-storage.ts';

const DEFAULTS: Settings = { stunUrl: '', turnUrl: '', turnUsername: '', turnCredential: '', notifications: false };
const TURN = { turnUrl: 'turn:turn.example.org:3478?transport=udp', turnUsername: 'alice', turnCredential: ' s3cret pass ' };
const TURN_HINT = 'A TURN server looks like turn:turn.example.org:3478 or turns:turn.example.org:5349?transport=tcp';
const TOGETHER = 'A TURN server needs all three: its URL, a username and a password (or clear all three)';

describe('the user’s settings', () => {
  it('start at their defaults in a browser that never saved any', () => {
    expect(loadSettings(new MemoryStorage())).toEqual(DEFAULTS);
  });

  it('keep a saved value across loads, trimmed', () => {
    const storage = new MemoryStorage();
    expect(saveSettings(storage, { stunUrl: ' stun:stun.example.org:3478 ' })).toEqual({ ok: true, values: { stunUrl: 'stun:stun.example.org:3478' } });
    expect(loadSettings(storage).stunUrl).toBe('stun:stun.example.org:3478');
  });

  it('refuse an invalid value with what to type instead, and keep the saved one', () => {
    const storage = new MemoryStorage();
    saveSettings(storage, { stunUrl: 'stun:stun.example.org' });
    for (const bad of ['http://evil.example', 'turn:relay.example.org', 'stun:', 'stun:a b', `stun:${'a'.repeat(300)}`, 42]) {
      expect(saveSettings(storage, { stunUrl: bad })).toEqual({ ok: false, message: 'A STUN server looks like stun:stun.example.org:3478' });
    }
    expect(loadSettings(storage).stunUrl).toBe('stun:stun.example.org');
  });

  it('forget a setting saved back to its default', () => {
    const storage = new MemoryStorage();
    saveSettings(storage, { stunUrl: 'stun:stun.example.org' });
    expect(saveSettings(storage, { stunUrl: '  ' })).toEqual({ ok: true, values: { stunUrl: '' } });
    expect(loadSettings(storage).stunUrl).toBe('');
    expect(JSON.parse(storage.getItem('peerchat.settings')!)).toEqual({});
  });

  it('read a stored value that fails its check as the default, and a stored mess as all defaults', () => {
    const storage = new MemoryStorage();
    storage.setItem('peerchat.settings', JSON.stringify({ stunUrl: 'javascript:alert(1)' }));
    expect(loadSettings(storage).stunUrl).toBe('');
    for (const mess of ['{"stunUrl":', '[1,2]', 'null', '"stun:x"', JSON.stringify({ stunUrl: { urls: 'stun:x' } })]) {
      storage.setItem('peerchat.settings', mess);
      expect(loadSettings(storage), mess).toEqual(DEFAULTS);
    }
  });

  it('keep notifications off until turned on, and read a stored non-boolean as off', () => {
    const storage = new MemoryStorage();
    expect(loadSettings(storage).notifications).toBe(false);
    expect(saveSettings(storage, { notifications: true })).toEqual({ ok: true, values: { notifications: true } });
    expect(loadSettings(storage).notifications).toBe(true);
    expect(saveSettings(storage, { notifications: 'yes' }).ok).toBe(false);
    storage.setItem('peerchat.settings', JSON.stringify({ notifications: 'true' }));
    expect(loadSettings(storage).notifications).toBe(false);
  });

  it('keep settings this version does not know when saving one it does', () => {
    const storage = new MemoryStorage();
    storage.setItem('peerchat.settings', JSON.stringify({ fromNewerVersion: [1] }));
    saveSettings(storage, { stunUrl: 'stun:stun.example.org' });
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
    const saved = saveSettings(full, { stunUrl: 'stun:stun.example.org' });
    expect(saved.ok).toBe(false);
    expect(loadSettings(full).stunUrl).toBe('');
  });

  it('give the transport a STUN server only when one is set', () => {
    expect(iceServers(DEFAULTS)).toEqual([]);
    expect(iceServers({ ...DEFAULTS, stunUrl: 'stun:stun.example.org' })).toEqual([{ urls: 'stun:stun.example.org' }]);
  });
});

describe('the user’s TURN server', () => {
  it('is saved with its username and password together and kept across loads, the password untrimmed', () => {
    const storage = new MemoryStorage();
    expect(saveSettings(storage, { ...TURN, turnUrl: ` ${TURN.turnUrl} `, turnUsername: ' alice ' })).toEqual({ ok: true, values: TURN });
    expect(loadSettings(storage)).toEqual({ ...DEFAULTS, ...TURN });
    saveSettings(storage, { stunUrl: 'stun:stun.example.org' });
    expect(loadSettings(storage)).toEqual({ ...DEFAULTS, ...TURN, stunUrl: 'stun:stun.example.org' });
  });

  it('accepts turn: and turns: URLs with a port and a udp or tcp transport', () => {
    for (const url of ['turn:relay.example.org', 'turns:relay.example.org:5349', 'turn:10.0.0.1:3478?transport=tcp', 'turns:r.example:443?transport=udp']) {
      expect(saveSettings(new MemoryStorage(), { ...TURN, turnUrl: url }), url).toEqual({ ok: true, values: { ...TURN, turnUrl: url } });
    }
  });

  it('refuses a URL that is not a TURN server, with what to type instead, and keeps the saved one', () => {
    const storage = new MemoryStorage();
    saveSettings(storage, TURN);
    const bad = ['stun:relay.example.org', 'http://relay.example.org', 'turn:', 'turn:a b', 'turn:r.example?transport=sctp', 'turn:r.example?user=x', `turn:${'a'.repeat(300)}`, 42];
    for (const url of bad) {
      expect(saveSettings(storage, { ...TURN, turnUrl: url }), String(url)).toEqual({ ok: false, message: TURN_HINT });
    }
    expect(loadSettings(storage)).toEqual({ ...DEFAULTS, ...TURN });
  });

  it('refuses a username or password without the URL, and a URL without them', () => {
    const storage = new MemoryStorage();
    expect(saveSettings(storage, { turnUrl: '', turnUsername: 'alice', turnCredential: 'pw' })).toEqual({ ok: false, message: TOGETHER });
    expect(saveSettings(storage, { turnUrl: TURN.turnUrl, turnUsername: 'alice', turnCredential: '' })).toEqual({ ok: false, message: TOGETHER });
    expect(saveSettings(storage, { turnUsername: 'alice' })).toEqual({ ok: false, message: TOGETHER });
    expect(storage.getItem('peerchat.settings')).toBeNull();
  });

  it('refuses a username or password over 256 characters', () => {
    const storage = new MemoryStorage();
    expect(saveSettings(storage, { ...TURN, turnUsername: 'u'.repeat(257) })).toEqual({ ok: false, message: 'A TURN username is at most 256 characters' });
    expect(saveSettings(storage, { ...TURN, turnCredential: 'p'.repeat(257) })).toEqual({ ok: false, message: 'A TURN password is at most 256 characters' });
    expect(saveSettings(storage, { ...TURN, turnUsername: 'u'.repeat(256), turnCredential: 'p'.repeat(256) }).ok).toBe(true);
  });

  it('is removed when all three are cleared together', () => {
    const storage = new MemoryStorage();
    saveSettings(storage, TURN);
    expect(saveSettings(storage, { turnUrl: ' ', turnUsername: '', turnCredential: '' }).ok).toBe(true);
    expect(loadSettings(storage)).toEqual(DEFAULTS);
    expect(JSON.parse(storage.getItem('peerchat.settings')!)).toEqual({});
  });

  it('defaults to none when settings were saved by a version without TURN', () => {
    const storage = new MemoryStorage();
    storage.setItem('peerchat.settings', JSON.stringify({ stunUrl: 'stun:stun.example.org' }));
    expect(loadSettings(storage)).toEqual({ ...DEFAULTS, stunUrl: 'stun:stun.example.org' });
  });

  it('reads a stored half (a username without its server) as none at all', () => {
    const storage = new MemoryStorage();
    storage.setItem('peerchat.settings', JSON.stringify({ stunUrl: 'stun:s.example', turnUsername: 'alice', turnCredential: 'pw' }));
    expect(loadSettings(storage)).toEqual({ ...DEFAULTS, stunUrl: 'stun:s.example' });
    storage.setItem('peerchat.settings', JSON.stringify({ ...TURN, turnUrl: 'javascript:alert(1)' }));
    expect(loadSettings(storage)).toEqual(DEFAULTS);
  });

  it('gives the transport the STUN entry, then the TURN entry with its credentials', () => {
    const settings = { ...DEFAULTS, ...TURN, stunUrl: 'stun:stun.example.org' };
    expect(iceServers(settings)).toEqual([
      { urls: 'stun:stun.example.org' },
      { urls: TURN.turnUrl, username: 'alice', credential: TURN.turnCredential },
    ]);
    expect(iceServers({ ...DEFAULTS, ...TURN })).toEqual([{ urls: TURN.turnUrl, username: 'alice', credential: TURN.turnCredential }]);
    expect(iceServers({ ...DEFAULTS, turnUrl: TURN.turnUrl })).toEqual([]);
  });
});

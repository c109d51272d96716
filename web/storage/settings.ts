/**
 * The user's settings, kept in localStorage across sessions under one key. Each setting is one
 * entry in SETTINGS: its valibot schema says what a valid value is (after trimming) and what to
 * tell the user when it is not, and its fallback is the value until the user sets one. A stored
 * value that fails its schema (hand-edited, or written by another version) reads as the
 * fallback, setting by setting, so one bad value never costs the others; settings that only
 * make sense together (a TURN server and its credentials) are checked as a group (GROUPS).
 */
import * as v from 'valibot';
import { readItem, readJson, removeItem, writeItem } from './web-storage.ts';

const SETTINGS_KEY = 'peerchat.settings';
/** Where the STUN URL was kept before the settings shared one key; moved on first read. */
const LEGACY_STUN_KEY = 'peerchat.stun';
const MAX_URL_CHARS = 256;
const STUN_URL = /^stuns?:[A-Za-z0-9.-]+(:\d{1,5})?$/;
const STUN_HINT = 'A STUN server looks like stun:stun.example.org:3478';
/** What RFC 7065 allows that browsers accept: host, port, and only the transport parameter. */
const TURN_URL = /^turns?:[A-Za-z0-9.-]+(:\d{1,5})?(\?transport=(udp|tcp))?$/;
const TURN_HINT = 'A TURN server looks like turn:turn.example.org:3478 or turns:turn.example.org:5349?transport=tcp';
const MAX_TURN_AUTH_CHARS = 256;
const TURN_USERNAME_HINT = `A TURN username is at most ${MAX_TURN_AUTH_CHARS} characters`;
const TURN_CREDENTIAL_HINT = `A TURN password is at most ${MAX_TURN_AUTH_CHARS} characters`;
const TURN_TOGETHER_HINT = 'A TURN server needs all three: its URL, a username and a password (or clear all three)';

interface Setting<T> {
  schema: v.GenericSchema<unknown, T>;
  fallback: T;
}

function setting<T>(schema: v.GenericSchema<unknown, T>, fallback: T): Setting<T> {
  return { schema, fallback };
}

/**
 * Every setting the user can change. Adding one is an entry here, a control in a component
 * that calls the save action, and the code that uses the value; loading, validating, saving
 * and the state mirror (web/state/settings.svelte.ts) follow from the entry.
 */
export const SETTINGS = {
  /**
   * A STUN server, '' for none (fine on one machine and most LANs, where host candidates
   * connect): it lets tabs behind different NATs find each other's public addresses.
   */
  stunUrl: setting(
    v.pipe(
      v.string(STUN_HINT),
      v.trim(),
      v.maxLength(MAX_URL_CHARS, STUN_HINT),
      v.check((url) => url === '' || STUN_URL.test(url), STUN_HINT),
    ),
    '',
  ),
  /** A TURN relay, '' for none: it carries the traffic when no direct path exists. */
  turnUrl: setting(
    v.pipe(
      v.string(TURN_HINT),
      v.trim(),
      v.maxLength(MAX_URL_CHARS, TURN_HINT),
      v.check((url) => url === '' || TURN_URL.test(url), TURN_HINT),
    ),
    '',
  ),
  turnUsername: setting(v.pipe(v.string(TURN_USERNAME_HINT), v.trim(), v.maxLength(MAX_TURN_AUTH_CHARS, TURN_USERNAME_HINT)), ''),
  // Not trimmed: a space is a legal password character, and a silently changed password fails
  // at the relay where the user cannot see why.
  turnCredential: setting(v.pipe(v.string(TURN_CREDENTIAL_HINT), v.maxLength(MAX_TURN_AUTH_CHARS, TURN_CREDENTIAL_HINT)), ''),
  /**
   * System notifications for messages that arrive while the user looks elsewhere
   * (src/attention.ts): off until the user turns them on, which is when the browser asks.
   */
  notifications: setting(v.boolean('Notifications are either on or off'), false),
};

export type SettingName = keyof typeof SETTINGS;
export type Settings = { [K in SettingName]: (typeof SETTINGS)[K] extends Setting<infer T> ? T : never };
export type SaveResult = { ok: true; values: Partial<Settings> } | { ok: false; message: string };

const NAMES = Object.keys(SETTINGS) as SettingName[];

/**
 * Settings that are only valid together: the check gets every setting and says what to tell
 * the user, or null. A stored group that fails reads as its fallbacks, like a bad single value.
 */
const GROUPS: { names: SettingName[]; check: (s: Settings) => string | null }[] = [
  {
    // Browsers refuse a TURN entry without credentials (RTCPeerConnection throws), and
    // credentials without a server mean nothing: all three or none.
    names: ['turnUrl', 'turnUsername', 'turnCredential'],
    check: (s) => {
      const set = [s.turnUrl, s.turnUsername, s.turnCredential].filter((x) => x !== '').length;
      return set === 0 || set === 3 ? null : TURN_TOGETHER_HINT;
    },
  },
];

function definition<K extends SettingName>(name: K): Setting<Settings[K]> {
  return SETTINGS[name] as Setting<Settings[K]>;
}

/** Every setting: the stored value where it passes its schema and its group, else its fallback. */
export function loadSettings(storage: Storage): Settings {
  const stored = storedValues(storage);
  const out: Partial<Record<SettingName, unknown>> = {};
  for (const name of NAMES) {
    const parsed = v.safeParse(definition(name).schema, stored[name]);
    out[name] = parsed.success ? parsed.output : definition(name).fallback;
  }
  const settings = out as Settings;
  for (const group of GROUPS) {
    if (group.check(settings) === null) continue;
    for (const name of group.names) out[name] = definition(name).fallback;
  }
  return settings;
}

/**
 * Validates and saves one setting, or several that go together (a group is checked with the
 * values given and the saved ones for the rest), all or nothing: the values saved (trimmed) or
 * what to tell the user. A value equal to its fallback is not stored, so it follows the
 * fallback if a later version changes it.
 */
export function saveSettings(storage: Storage, inputs: Partial<Record<SettingName, unknown>>): SaveResult {
  const values: Partial<Record<SettingName, unknown>> = {};
  for (const name of NAMES) {
    if (!(name in inputs)) continue;
    const parsed = v.safeParse(definition(name).schema, inputs[name]);
    if (!parsed.success) return { ok: false, message: parsed.issues[0].message };
    values[name] = parsed.output;
  }
  const merged = { ...loadSettings(storage), ...values } as Settings;
  for (const group of GROUPS) {
    const message = group.names.some((name) => name in values) ? group.check(merged) : null;
    if (message !== null) return { ok: false, message };
  }
  // Keys this version does not know stay: a newer version, opened before, may have set them.
  const stored = storedValues(storage);
  for (const [name, value] of Object.entries(values) as [SettingName, unknown][]) {
    if (JSON.stringify(value) === JSON.stringify(definition(name).fallback)) delete stored[name];
    else stored[name] = value;
  }
  if (!writeItem(storage, SETTINGS_KEY, JSON.stringify(stored))) {
    return { ok: false, message: 'This browser refused to save it (storage is full or blocked for this site).' };
  }
  return { ok: true, values: values as Partial<Settings> };
}

/**
 * The ICE servers the user's settings ask for, for the WebRTC transport. They hold the TURN
 * password: show them to nobody; the panel and the debug handle get URLs only (peer-node.ts).
 */
export function iceServers(settings: Pick<Settings, 'stunUrl' | 'turnUrl' | 'turnUsername' | 'turnCredential'>): RTCIceServer[] {
  const servers: RTCIceServer[] = settings.stunUrl ? [{ urls: settings.stunUrl }] : [];
  if (settings.turnUrl && settings.turnUsername && settings.turnCredential) {
    servers.push({ urls: settings.turnUrl, username: settings.turnUsername, credential: settings.turnCredential });
  }
  return servers;
}

/** The stored object, unchecked; the legacy STUN key is moved in when there is none yet. */
function storedValues(storage: Storage): Record<string, unknown> {
  const stored = readJson(storage, SETTINGS_KEY);
  if (typeof stored === 'object' && stored !== null && !Array.isArray(stored)) return { ...stored };
  const legacyStun = readItem(storage, LEGACY_STUN_KEY);
  if (legacyStun === null) return {};
  const moved = { stunUrl: legacyStun };
  // The old key goes only once the new one holds its value: a refused write loses nothing.
  if (writeItem(storage, SETTINGS_KEY, JSON.stringify(moved))) removeItem(storage, LEGACY_STUN_KEY);
  return moved;
}

/**
 * The user's settings, kept in localStorage across sessions under one key. Each setting is one
 * entry in SETTINGS: its valibot schema says what a valid value is (after trimming) and what to
 * tell the user when it is not, and its fallback is the value until the user sets one. A stored
 * value that fails its schema (hand-edited, or written by another version) reads as the
 * fallback, setting by setting, so one bad value never costs the others.
 */
import * as v from 'valibot';
import { readItem, readJson, removeItem, writeItem } from './web-storage.ts';

const SETTINGS_KEY = 'peerchat.settings';
/** Where the STUN URL was kept before the settings shared one key; moved on first read. */
const LEGACY_STUN_KEY = 'peerchat.stun';
const MAX_URL_CHARS = 256;
const STUN_URL = /^stuns?:[A-Za-z0-9.-]+(:\d{1,5})?$/;
const STUN_HINT = 'A STUN server looks like stun:stun.example.org:3478';

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
};

export type SettingName = keyof typeof SETTINGS;
export type Settings = { [K in SettingName]: (typeof SETTINGS)[K] extends Setting<infer T> ? T : never };
export type SaveResult<K extends SettingName> = { ok: true; value: Settings[K] } | { ok: false; message: string };

const NAMES = Object.keys(SETTINGS) as SettingName[];

function definition<K extends SettingName>(name: K): Setting<Settings[K]> {
  return SETTINGS[name] as Setting<Settings[K]>;
}

/** Every setting: the stored value where it passes its schema, else its fallback. */
export function loadSettings(storage: Storage): Settings {
  const stored = storedValues(storage);
  const out: Partial<Record<SettingName, unknown>> = {};
  for (const name of NAMES) {
    const parsed = v.safeParse(definition(name).schema, stored[name]);
    out[name] = parsed.success ? parsed.output : definition(name).fallback;
  }
  return out as Settings;
}

/**
 * Validates and saves one setting; the value saved (trimmed) or what to tell the user. A value
 * equal to the fallback is not stored, so it follows the fallback if a later version changes it.
 */
export function saveSetting<K extends SettingName>(storage: Storage, name: K, input: unknown): SaveResult<K> {
  const { schema, fallback } = definition(name);
  const parsed = v.safeParse(schema, input);
  if (!parsed.success) return { ok: false, message: parsed.issues[0].message };
  // Keys this version does not know stay: a newer version, opened before, may have set them.
  const stored = storedValues(storage);
  if (JSON.stringify(parsed.output) === JSON.stringify(fallback)) delete stored[name];
  else stored[name] = parsed.output;
  if (!writeItem(storage, SETTINGS_KEY, JSON.stringify(stored))) {
    return { ok: false, message: 'This browser refused to save it (storage is full or blocked for this site).' };
  }
  return { ok: true, value: parsed.output };
}

/** The ICE servers the user's settings ask for, for the WebRTC transport. */
export function iceServers(settings: Settings): RTCIceServer[] {
  return settings.stunUrl ? [{ urls: settings.stunUrl }] : [];
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

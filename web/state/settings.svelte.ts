/**
 * The user's settings as Svelte 5 state. main.ts loads them (web/storage/settings.ts) into this
 * object and hands the components a save action that validates, stores, and puts the saved
 * value here; the components read `values` and never touch storage.
 */
import type { Settings } from '../storage/settings.ts';

export class SettingsState {
  values: Settings;

  constructor(initial: Settings) {
    // Raw: a change replaces the whole object, and components read it by field.
    this.values = $state.raw(initial);
  }
}

/**
 * Validates and saves one setting, or several that are only valid together (the TURN server
 * and its credentials), all or nothing: null once saved, else what to tell the user.
 */
export type SaveSetting = (values: Partial<Settings>) => string | null;

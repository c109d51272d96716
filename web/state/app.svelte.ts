/**
 * The app's own state beside the network and the session, as Svelte 5 state: whether the
 * browser offers to install it, and whether a new version is ready (src/app-lifecycle.ts fills
 * both; App.svelte offers them).
 */
export class AppState {
  /** The browser offers installation (Chromium's beforeinstallprompt) and the app is not installed. */
  installable = $state(false);
  /** A new version's service worker is installed and waits for this tab to let it take over. */
  updateReady = $state(false);
}

/** What App.svelte's install and update buttons do. */
export interface AppActions {
  install(): void;
  update(): void;
}

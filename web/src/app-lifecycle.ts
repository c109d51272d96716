/**
 * Installing the app and moving to a new version. Where the browser offers installation
 * (Chromium fires beforeinstallprompt once the manifest and the service worker pass its checks,
 * for an app not installed yet), the header shows "Install Peerchat" and a click opens the
 * browser's own dialog. A new deployment's service worker installs beside the running one and
 * waits (vite-plugin-pwa's prompt mode, vite.config.ts): the tab says a new version is ready, and
 * "Update now" lets it take over and reloads; until then the tab runs the version it loaded.
 */
import type { AppState } from '../state/app.svelte.ts';

/** Chromium's event; not in TypeScript's DOM library. */
export interface InstallPromptEvent extends Event {
  prompt(): Promise<void>;
  readonly userChoice: Promise<{ outcome: 'accepted' | 'dismissed' }>;
}

export class InstallOffer {
  private offered: InstallPromptEvent | null = null;

  constructor(
    target: EventTarget,
    private readonly state: Pick<AppState, 'installable'>,
  ) {
    target.addEventListener('beforeinstallprompt', (event) => {
      // Kept for the button, instead of the browser's own mini-infobar.
      event.preventDefault();
      this.offered = event as InstallPromptEvent;
      state.installable = true;
    });
    target.addEventListener('appinstalled', () => {
      this.offered = null;
      state.installable = false;
    });
  }

  /** Opens the browser's install dialog: the user's answer, or 'unavailable' with no offer. */
  async install(): Promise<'accepted' | 'dismissed' | 'unavailable'> {
    const offered = this.offered;
    if (!offered) return 'unavailable';
    // An offer prompts once; the browser offers again later if the user says no.
    this.offered = null;
    this.state.installable = false;
    await offered.prompt();
    return (await offered.userChoice).outcome;
  }
}

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

/** What of the browser's ServiceWorkerContainer the updates use (a fake one in the unit tests). */
export type WorkerContainer = Pick<ServiceWorkerContainer, 'controller' | 'register' | 'addEventListener'>;

/**
 * Registers the service worker and watches for a new version: one that installed beside the
 * worker controlling the page (the page had a controller, so it is an update, not the first
 * install) is offered through `onUpdateReady`; `update()` asks it to take over (the generated
 * worker's SKIP_WAITING message, vite.config.ts) and reloads the page once it controls it.
 * A dozen lines in place of workbox-window (2.2 KB gzip of start-up JS) and vite-plugin-pwa's
 * register module, which did the same through it.
 */
export class WorkerUpdates {
  private waiting: ServiceWorker | null = null;
  private reloading = false;

  constructor(
    private readonly container: WorkerContainer,
    url: string,
    private readonly onUpdateReady: () => void,
    private readonly reload: () => void,
  ) {
    container
      .register(url, { scope: '/' })
      .then((registration) => {
        this.offer(registration.waiting);
        registration.addEventListener('updatefound', () => {
          const installing = registration.installing;
          installing?.addEventListener('statechange', () => {
            if (installing.state === 'installed') this.offer(installing);
          });
        });
      })
      // No worker (a private window that refuses them, say): the app runs, without offline use.
      .catch(() => {});
    container.addEventListener('controllerchange', () => {
      if (this.waiting === null || this.reloading) return;
      this.reloading = true;
      this.reload();
    });
  }

  /** Lets the waiting version take over; the page reloads into it. */
  update(): void {
    this.waiting?.postMessage({ type: 'SKIP_WAITING' });
  }

  private offer(worker: ServiceWorker | null): void {
    if (!worker || !this.container.controller) return;
    this.waiting = worker;
    this.onUpdateReady();
  }
}

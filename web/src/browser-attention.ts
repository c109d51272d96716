/**
 * The browser's side of attention.ts: the document's title, the installed app's badge, whether
 * the user looks at the tab, and system notifications with their permission. main.ts builds it;
 * the Sidebar's button calls setNotifications through the session actions.
 *
 * A notification shows through the active service worker's registration where there is one:
 * Chrome on Android allows no other way, and a click then reaches the worker
 * (web/public/notification-click.js), which asks this page whether it is its own, or free to
 * take the click's hint (the join screen), and may hand it that hint. Without an
 * active worker (the dev server, the first seconds of a first visit) the page makes its own.
 */
import type { NotificationsState } from '../state/session.svelte.ts';
import type { AttentionHost, Notice } from './attention.ts';

/** A notification the browser showed: what the debug handle lists. */
export interface ShownNotification {
  title: string;
  body: string;
}

/** The service worker's question when the user clicks a notification (notification-click.js). */
export const CLICK_MESSAGE = 'peerchat:notificationclick';
/** What the worker hands a tab on the join screen whose answer was 'free': the click's hint. */
export const HINT_MESSAGE = 'peerchat:notificationhint';

/** The most shown notifications the debug handle keeps. */
const SHOWN_KEPT = 50;

/** `renotify` is Chromium's; TypeScript's DOM library has dropped it. */
type ShowOptions = NotificationOptions & { renotify: boolean };

/** A service worker's registration, as far as showing a notification goes. */
export interface WorkerRegistration {
  active: object | null;
  showNotification(title: string, options: ShowOptions): Promise<void>;
}

/**
 * Shows `n` through the active worker's registration, else with the page's `construct` (which
 * throws where the page may not: Chrome on Android). 'refused' when it threw and no worker is
 * on its way, so notifications cannot show here; 'dropped' when one is still installing.
 */
export async function showNotice(
  n: Notice,
  registration: WorkerRegistration | undefined,
  construct: (title: string, options: ShowOptions) => void,
): Promise<'worker' | 'page' | 'dropped' | 'refused'> {
  const options: ShowOptions = { body: n.body, tag: n.tag, renotify: n.renotify, data: n.data, icon: '/icon.svg' };
  if (registration?.active) {
    await registration.showNotification(n.title, options);
    return 'worker';
  }
  try {
    construct(n.title, options);
    return 'page';
  } catch {
    return registration ? 'dropped' : 'refused';
  }
}

export class BrowserAttention implements AttentionHost {
  readonly shown: ShownNotification[] = [];
  /** A click on one of this tab's notifications: whether it was this identity's (attention.ts). */
  clicked: (data: unknown) => boolean = () => false;
  /** Whether the tab is on the join screen, where a notification's hint can be followed. */
  free: () => boolean = () => false;
  /** A hint the worker handed this tab (HINT_MESSAGE), as it came: untrusted (open-hint.ts). */
  hinted: (hash: unknown) => void = () => undefined;
  /** Notifications the page made itself (no service worker), by tag: `dismiss` closes them. */
  private readonly pageShown = new Map<string, Notification>();
  /** Set when the page may not construct notifications and has no service worker to show them. */
  private refused = false;

  constructor(
    /** Whether the user turned notifications on (the saved setting). */
    private readonly enabled: () => boolean,
    /** The state changed by itself (the browser refused a notification). */
    private readonly changed: (state: NotificationsState) => void,
  ) {
    // The worker's question gets true (its own: opened), 'free' (the join screen) or false.
    navigator.serviceWorker?.addEventListener('message', ({ data: m, ports }: MessageEvent) => {
      if (m?.type === CLICK_MESSAGE) ports[0]?.postMessage(this.clicked(m.data) || (this.free() && 'free'));
      if (m?.type === HINT_MESSAGE) this.hinted(m.hint);
    });
  }

  setTitle(title: string): void {
    document.title = title;
  }

  away(): boolean {
    return document.visibilityState === 'hidden' || !document.hasFocus();
  }

  badge(count: number): void {
    // Only the installed app has a badge; a tab's call resolves and shows nothing, and a
    // browser without the API has neither method.
    const nav = navigator as Navigator & { setAppBadge?: (n: number) => Promise<void>; clearAppBadge?: () => Promise<void> };
    const done = count > 0 ? nav.setAppBadge?.(count) : nav.clearAppBadge?.();
    done?.catch(() => undefined);
  }

  notifying(): boolean {
    return this.state() === 'on';
  }

  /**
   * What the Sidebar offers: on, off, blocked for this site, or nothing to offer. Offered
   * wherever the page may ask the permission (Chrome on Android too: its worker shows them).
   */
  state(): NotificationsState {
    if (!('Notification' in window) || this.refused) return 'unsupported';
    if (Notification.permission === 'denied') return 'blocked';
    return this.enabled() && Notification.permission === 'granted' ? 'on' : 'off';
  }

  /**
   * Asks the browser for its permission when the user turns notifications on (never before),
   * then `save`s the choice; returns the state after. A dismissed prompt leaves them off.
   */
  async set(on: boolean, save: (on: boolean) => string | null): Promise<NotificationsState> {
    if (this.state() === 'unsupported') return 'unsupported';
    if (on && this.state() === 'off' && Notification.permission !== 'granted') await Notification.requestPermission();
    if (!on || Notification.permission === 'granted') save(on);
    return this.state();
  }

  notify(n: Notice): void {
    void this.show(n).catch(() => undefined);
  }

  dismiss(tag: string): void {
    this.pageShown.get(tag)?.close();
    this.pageShown.delete(tag);
    void navigator.serviceWorker
      ?.getRegistration()
      .then((registration) => registration?.getNotifications({ tag }))
      .then((shown) => shown?.forEach((n) => n.close()))
      .catch(() => undefined);
  }

  private async show(n: Notice): Promise<void> {
    const registration = await navigator.serviceWorker?.getRegistration();
    const shown = () => {
      this.shown.push({ title: n.title, body: n.body });
      if (this.shown.length > SHOWN_KEPT) this.shown.shift();
    };
    const how = await showNotice(n, registration, (title, options) => {
      const page = new Notification(title, options);
      this.pageShown.set(n.tag, page);
      page.onclose = () => {
        if (this.pageShown.get(n.tag) === page) this.pageShown.delete(n.tag);
      };
      page.onshow = shown;
      page.onclick = () => {
        window.focus();
        this.clicked(n.data);
        page.close();
      };
    });
    if (how === 'worker') shown();
    if (how === 'refused') {
      // Said once, by taking the button away.
      this.refused = true;
      this.changed(this.state());
    }
  }
}

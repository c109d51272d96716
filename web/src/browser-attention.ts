/**
 * The browser's side of attention.ts: the document's title, the installed app's badge, whether
 * the user looks at the tab, and system notifications with their permission. main.ts builds it;
 * the Sidebar's button calls setNotifications through the session actions.
 */
import type { NotificationsState } from '../state/session.svelte.ts';
import type { AttentionHost, Notice } from './attention.ts';

/** A notification the browser showed (its `show` event): what the debug handle lists. */
export interface ShownNotification {
  title: string;
  body: string;
}

/** The most shown notifications the debug handle keeps. */
const SHOWN_KEPT = 50;

export class BrowserAttention implements AttentionHost {
  readonly shown: ShownNotification[] = [];
  /** A click on one of this tab's notifications: whether it was this identity's (attention.ts). */
  clicked: (data: unknown) => boolean = () => false;
  /** Set when the page may not construct notifications (Chrome on Android allows only a service worker's). */
  private refused = false;

  constructor(
    /** Whether the user turned notifications on (the saved setting). */
    private readonly enabled: () => boolean,
    /** The state changed by itself (the browser refused a notification). */
    private readonly changed: (state: NotificationsState) => void,
  ) {}

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

  /** What the Sidebar offers: on, off, blocked for this site, or nothing to offer. */
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
    let shown: Notification;
    try {
      // `renotify` is Chromium's; TypeScript's DOM library has dropped it.
      const options: NotificationOptions & { renotify: boolean } = { body: n.body, tag: n.tag, renotify: n.renotify, data: n.data, icon: '/icon.svg' };
      shown = new Notification(n.title, options);
    } catch {
      // The page may not show one here: said once, by taking the button away.
      this.refused = true;
      this.changed(this.state());
      return;
    }
    shown.onshow = () => {
      this.shown.push({ title: n.title, body: n.body });
      if (this.shown.length > SHOWN_KEPT) this.shown.shift();
    };
    shown.onclick = () => {
      window.focus();
      this.clicked(n.data);
      shown.close();
    };
  }
}

/**
 * What tells the user about new messages while they look elsewhere: the unread count in the
 * tab's title and, for the installed app, on its badge; and a system notification for each new
 * message or message request that arrives while the user is not looking at the tab, once they
 * turned notifications on (the app never asks for the permission by itself: Sidebar's button
 * does, when clicked). Session.mirror hands it the conversations after every change of the Chat;
 * the browser's side is an AttentionHost (main.ts), so the rules are tested without one.
 *
 * A conversation has one notification, which its newest message replaces (the tag), so a burst
 * does not pile up; the replacement alerts again only after RENOTIFY_QUIET_MS; once the
 * conversation is read in the tab (or a request answered) its notification is closed. A notification
 * carries whose it is and what it opens (NotificationData), because a click may reach the page
 * through the service worker (web/public/notification-click.js), long after the page showed it.
 */
import type { Conversation } from '../../shared/chat/chat.ts';

/** The app's name, as the title shows it with nothing unread. */
export const APP_TITLE = 'Peerchat';
/** A notification shows at most this much of a message. */
export const NOTIFICATION_BODY_CHARS = 120;
/** A conversation's notification, replaced sooner than this after it alerted, is replaced silently. */
export const RENOTIFY_QUIET_MS = 30_000;

/** What a notification carries to its click: plain data, as the service worker passes it on. */
export interface NotificationData {
  /** The node id of the identity it was shown for: another identity's tab does not open it. */
  identity: string;
  /** The conversation a click opens; null for a message request (the sidebar lists those). */
  conversation: string | null;
}

export interface Notice {
  title: string;
  body: string;
  /** One per identity and conversation: the newest replaces the older. */
  tag: string;
  /** Whether the replacement alerts (sound, vibration) again. */
  renotify: boolean;
  data: NotificationData;
}

export interface AttentionHost {
  setTitle(title: string): void;
  /** Whether the user is not looking at the tab: it is hidden, or its window lacks focus. */
  away(): boolean;
  /** The installed app's badge (navigator.setAppBadge; 0 clears it), where the browser has one. */
  badge?(count: number): void;
  /** Whether the user turned notifications on and the browser grants them. */
  notifying(): boolean;
  /** Shows a system notification; `tag` replaces an older one with the same tag. */
  notify(n: Notice): void;
  /** Closes the notification shown under `tag`, if one still shows. */
  dismiss?(tag: string): void;
}

/**
 * A conversation as attention counts it: a person's (Conversation), or a group's, whose key is
 * not a name and which carries the title its notifications show.
 */
export type ConversationSeen = Pick<Conversation, 'peer' | 'unread'> & { title?: string };

/** A message request as the sidebar has it: its writer's key, the name it claims, its first text. */
export interface RequestSeen {
  key: string;
  name: string;
  firstText: string;
}

export class Attention {
  /** Unread per conversation, as of the last update; null before the first (nothing notifies). */
  private unread: Map<string, number> | null = null;
  private requests = new Set<string>();
  private shownTotal = -1;
  /** When each tag's notification last alerted; forgotten once its conversation is read. */
  private alerted = new Map<string, number>();

  constructor(
    private readonly host: AttentionHost,
    private readonly o: {
      /** This tab's node id (NotificationData.identity). */
      identity: string;
      /** Opens a conversation, or the message requests (null): a click on its notification. */
      open: (peer: string | null) => void;
      now: () => number;
    },
  ) {}

  /**
   * A click on a notification, with the data it carries: opens its conversation (a request's: the
   * message requests) if it is this identity's, and says whether it was (the service worker then
   * focuses this tab).
   */
  clicked(data: unknown): boolean {
    const d = data as Partial<NotificationData> | null;
    if (d?.identity !== this.o.identity) return false;
    this.o.open(typeof d.conversation === 'string' ? d.conversation : null);
    return true;
  }

  /**
   * The Chat changed: the title and badge show the unread messages and message requests, and
   * what grew while the user is away notifies. `latest` is the newest message a peer wrote.
   */
  update(conversations: readonly ConversationSeen[], requests: readonly RequestSeen[], latest: (peer: string) => string | undefined): void {
    const { host } = this;
    const total = conversations.reduce((n, c) => n + c.unread, 0) + requests.length;
    if (total !== this.shownTotal) {
      this.shownTotal = total;
      host.setTitle(total > 0 ? `(${total}) ${APP_TITLE}` : APP_TITLE);
      host.badge?.(total);
    }
    const before = this.unread;
    this.unread = new Map(conversations.map((c) => [c.peer, c.unread]));
    const knownRequests = this.requests;
    this.requests = new Set(requests.map((r) => r.key));
    // Read: the next message is news again, and alerts; and the one shown is news no longer.
    for (const c of conversations) {
      if (c.unread !== 0) continue;
      this.alerted.delete(this.tag(c.peer));
      if ((before?.get(c.peer) ?? 0) > 0) host.dismiss?.(this.tag(c.peer));
    }
    // A request accepted or blocked in the tab: its notification goes too.
    for (const key of knownRequests) if (!this.requests.has(key)) host.dismiss?.(this.tag(`request:${key}`));
    // The first update is the history a sign-in loads: nothing in it is news.
    if (before === null || !host.away() || !host.notifying()) return;
    for (const c of conversations) {
      if (c.unread > (before.get(c.peer) ?? 0)) this.notify(c.title ?? c.peer, latest(c.peer) ?? 'New message', c.peer, c.peer);
    }
    for (const r of requests) {
      // Its name is only the sender's word until the user looks it up (Sidebar says so too).
      if (!knownRequests.has(r.key)) this.notify(`Message request: ${r.name} (not verified)`, r.firstText, `request:${r.key}`, null);
    }
  }

  private tag(key: string): string {
    return `peerchat:${this.o.identity}:${key}`;
  }

  private notify(title: string, body: string, key: string, conversation: string | null): void {
    const tag = this.tag(key);
    const now = this.o.now();
    const last = this.alerted.get(tag);
    const renotify = last === undefined || now - last >= RENOTIFY_QUIET_MS;
    if (renotify) this.alerted.set(tag, now);
    this.host.notify({ title, body: clip(body), tag, renotify, data: { identity: this.o.identity, conversation } });
  }
}

function clip(text: string): string {
  const chars = [...text];
  return chars.length <= NOTIFICATION_BODY_CHARS ? text : `${chars.slice(0, NOTIFICATION_BODY_CHARS - 1).join('')}…`;
}

/**
 * What tells the user about new messages while they look elsewhere: the unread count in the
 * tab's title and, for the installed app, on its badge; and a system notification for each new
 * message or message request that arrives while the user is not looking at the tab, once they
 * turned notifications on (the app never asks for the permission by itself: Sidebar's button
 * does, when clicked). Session.mirror hands it the conversations after every change of the Chat;
 * the browser's side is an AttentionHost (main.ts), so the rules are tested without one.
 */
import type { Conversation } from '../../shared/chat/chat.ts';

/** The app's name, as the title shows it with nothing unread. */
export const APP_TITLE = 'Peerchat';
/** A notification shows at most this much of a message. */
export const NOTIFICATION_BODY_CHARS = 120;

export interface AttentionHost {
  setTitle(title: string): void;
  /** Whether the user is not looking at the tab: it is hidden, or its window lacks focus. */
  away(): boolean;
  /** The installed app's badge (navigator.setAppBadge; 0 clears it), where the browser has one. */
  badge?(count: number): void;
  /** Whether the user turned notifications on and the browser grants them. */
  notifying(): boolean;
  /** Shows a system notification; `tag` replaces an older one with the same tag. */
  notify(n: { title: string; body: string; tag: string; onClick: () => void }): void;
}

/** A message request as the sidebar has it: its writer's key, the name it claims, its first text. */
/**
 * A conversation as attention counts it: a person's (Conversation), or a group's, whose key is
 * not a name and which carries the title its notifications show.
 */
export type ConversationSeen = Pick<Conversation, 'peer' | 'unread'> & { title?: string };

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

  constructor(
    private readonly host: AttentionHost,
    /** Opens a conversation: a click on its notification. */
    private readonly open: (peer: string) => void,
  ) {}

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
    // The first update is the history a sign-in loads: nothing in it is news.
    if (before === null || !host.away() || !host.notifying()) return;
    for (const c of conversations) {
      if (c.unread <= (before.get(c.peer) ?? 0)) continue;
      host.notify({ title: c.title ?? c.peer, body: clip(latest(c.peer) ?? 'New message'), tag: `peerchat:${c.peer}`, onClick: () => this.open(c.peer) });
    }
    for (const r of requests) {
      if (knownRequests.has(r.key)) continue;
      // Its name is only the sender's word until the user looks it up (Sidebar says so too).
      host.notify({ title: `Message request: ${r.name} (not verified)`, body: clip(r.firstText), tag: `peerchat:request:${r.key}`, onClick: () => {} });
    }
  }
}

function clip(text: string): string {
  const chars = [...text];
  return chars.length <= NOTIFICATION_BODY_CHARS ? text : `${chars.slice(0, NOTIFICATION_BODY_CHARS - 1).join('')}…`;
}

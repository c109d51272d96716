/**
 * What a click on a notification asks of the window the service worker opened for it, when no
 * Peerchat window could show it (web/public/notification-click.js, hintFragment), or of a window
 * on the join screen it handed the same fragment to (takeHint): the URL's fragment names
 * the identity whose notification it was (`as`, its node id) and the conversation to open
 * (`open`; none: the message requests).
 *
 * Anyone can write such a URL, so it is untrusted input: a fragment too long, an id that is not
 * one, a conversation that is neither a username nor a group's key is no hint at all; one that
 * names an identity not saved here offers nothing, and a conversation that identity does not have
 * opens nothing. Nor does it choose who the tab is: a new tab never signs in as a named identity by
 * itself (web/storage/tab-identity.ts), so the join screen says which to continue as and focuses
 * its button, and the user's "Continue as" signs in, as every sign-in does. That reloads the page, fragment kept; once
 * signed in, as anyone, the hint is used up.
 */
import { USERNAME_PATTERN } from '../../shared/chat/constants.ts';
import { isValidIdHex } from '../../shared/lib/id.ts';
import { GROUP_PREFIX, type SessionState } from '../state/session.svelte.ts';
import type { NotificationData } from './attention.ts';

/** Well above the longest hint the worker writes (85 characters: an id and a group's key). */
export const MAX_HINT_CHARS = 160;
/** A group's conversation key: GROUP_PREFIX and its 16-byte id in hex (shared/chat/groups.ts). */
const GROUP_KEY = /^#[0-9a-f]{32}$/;

/** The hint in a URL's fragment (`location.hash`), or null: none, or not a valid one. */
export function readHint(hash: string): NotificationData | null {
  if (hash.length > MAX_HINT_CHARS) return null;
  const fields = new URLSearchParams(hash.slice(1));
  const identity = fields.get('as');
  const conversation = fields.get('open');
  if (!isValidIdHex(identity)) return null;
  if (conversation !== null && !USERNAME_PATTERN.test(conversation) && !GROUP_KEY.test(conversation)) return null;
  return { identity, conversation };
}

/** What followHint reads and changes of the page: `window`, or a test's stand-in. */
export interface HintPage {
  location: Pick<Location, 'hash' | 'pathname' | 'search'>;
  history: Pick<History, 'state' | 'replaceState'>;
}

/**
 * The tab's session has started, on a page whose fragment may hold a hint. Signed out: the join
 * screen offers the hint's identity (`hinted`) and the fragment stays for the reload
 * "Continue as" makes. Signed in: the hint is used up (the fragment goes, so a reload does not
 * open it again), and opened (`open`, as a click in this tab would: attention.ts) only if this
 * tab is the identity it names and has the conversation. A fragment that is no hint is left be.
 */
export function followHint(
  page: HintPage,
  state: Pick<SessionState, 'screen' | 'conversations' | 'groups' | 'hinted'>,
  me: string,
  open: (hint: NotificationData) => void,
): void {
  const hint = readHint(page.location.hash);
  if (!hint) return;
  if (state.screen !== 'signed-in') {
    state.hinted = hint.identity;
    return;
  }
  page.history.replaceState(page.history.state, '', page.location.pathname + page.location.search);
  const c = hint.conversation;
  if (hint.identity === me && (c === null || state.conversations.some((x) => x.peer === c) || state.groups.some((g) => GROUP_PREFIX + g.id === c))) open(hint);
}

/**
 * A hint the service worker handed this tab (web/public/notification-click.js): the tab is on the
 * join screen and the notification's own tab is closed. It is the fragment a new window would
 * have had, and as untrusted: a string that is no fragment or no hint (readHint), or one that
 * arrives once the tab left the join screen, is dropped. Else it becomes the page's fragment and
 * the tab follows it as a new window at it would (followHint), the reload "Continue as" makes
 * keeping it.
 */
export function takeHint(
  page: HintPage,
  state: Pick<SessionState, 'screen' | 'conversations' | 'groups' | 'hinted'>,
  me: string,
  open: (hint: NotificationData) => void,
  hash: unknown,
): void {
  if (typeof hash !== 'string' || !hash.startsWith('#') || !readHint(hash) || state.screen !== 'signed-out') return;
  page.history.replaceState(page.history.state, '', page.location.pathname + page.location.search + hash);
  followHint(page, state, me, open);
}

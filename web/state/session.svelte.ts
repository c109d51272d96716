/**
 * The signed-in side of the UI as Svelte 5 state: who this tab is, the saved identities it could
 * continue as, the conversations and the open one. src/session.ts fills it from the engine's Chat
 * (which knows nothing of Svelte) whenever the Chat reports a change, and implements the actions
 * below, which main.ts hands the components. Components render this and call actions; they
 * never touch the engine.
 */
import type { ChatMessage, Contact, Conversation } from '../../shared/chat/chat.ts';

export type Screen = 'starting' | 'signed-out' | 'joining' | 'signed-in' | 'failed';

/** A message request as the sidebar shows it: who it claims to be, and what it wrote first. */
export interface RequestView {
  /** The signing key that wrote it: what Accept and Block name. */
  key: string;
  name: string;
  /** Whether a lookup of the name resolved to this key (it never has, for a request today). */
  verified: boolean;
  firstText: string;
  messages: number;
}

/** A group in the conversation list (its key in `open` is GROUP_PREFIX + id). */
export interface GroupItem {
  id: string;
  name: string;
  unread: number;
  lastAt: number;
  /** invited: a stranger's group, shown as an invitation until accepted. */
  status: 'joined' | 'invited';
  /** Whether this user is still a member (removed, or left: false). */
  member: boolean;
  members: number;
}

/** The open group: its members, each with whether a lookup of the name confirmed the key the group pins. */
export interface OpenGroup extends GroupItem {
  members: number;
  list: Array<{ name: string; verified: boolean; admin: boolean; me: boolean }>;
  /** This user is one of its admins: it may add and remove members. */
  admin: boolean;
  /**
   * Who wrote its received messages (group-view.ts senderId) without a lookup of this user's
   * confirming the key the group gave that name: the admin's word only.
   */
  unverifiedSenders: string[];
}

/** `open` holds a group as this prefix and its id: '#' is never in a username. */
export const GROUP_PREFIX = '#';

/** An identity saved in this browser that has a username. */
export interface SavedUser {
  nodeId: string;
  name: string;
  /** Running in another tab right now: it cannot be opened here. */
  openElsewhere: boolean;
}

export class SessionState {
  screen = $state<Screen>('starting');
  saved = $state<SavedUser[]>([]);
  /** What Join is doing right now, for the progress line ("Publishing your name…"). */
  joinProgress = $state<string | null>(null);
  joinError = $state<string | null>(null);
  /** The signed-in user's name. */
  me = $state<string | null>(null);
  /** The closest nodes hold another key's record for our name. */
  nameLost = $state(false);
  conversations = $state<Conversation[]>([]);
  groups = $state<GroupItem[]>([]);
  /** The open conversation when it is a group. */
  group = $state<OpenGroup | null>(null);
  /** Messages from senders the user never started or accepted a conversation with, oldest first. */
  requests = $state<RequestView[]>([]);
  /**
   * The open conversation (the other user's name, or GROUP_PREFIX + a group's id), and its
   * messages in sent order.
   */
  open = $state<string | null>(null);
  messages = $state<ChatMessage[]>([]);
  /** Raised by each click on a message request's notification: the sidebar shows the requests. */
  requestsShown = $state(0);
  /**
   * The identity a notification clicked in no open window was for (src/open-hint.ts): the join
   * screen says so and focuses its "Continue as".
   */
  hinted = $state<string | null>(null);
  /** The open conversation's contact: its pinned key and any warning. */
  contact = $state<Contact | null>(null);
  /** The open conversation's safety number (12 groups of 5 digits), the same on both sides. */
  safetyNumber = $state<string[] | null>(null);
  /** Messages in the outbox without a receipt yet: signing out pauses their resends. */
  unsent = $state(0);
  findBusy = $state(false);
  findError = $state<string | null>(null);
  sendError = $state<string | null>(null);
  /** Storage refused or failed: said plainly, the tab goes on without persistence if it can. */
  storageProblem = $state<string | null>(null);
  /**
   * System notifications for messages that arrive while the user looks elsewhere
   * (src/attention.ts): on, off, blocked by the browser for this site, or not in this browser.
   */
  notifications = $state<NotificationsState>('off');
}

export type NotificationsState = 'on' | 'off' | 'blocked' | 'unsupported';

export interface SessionActions {
  /** Registers the username; on success the screen becomes 'signed-in'. */
  join(name: string): Promise<void>;
  /** Signs in as a saved identity (the page reloads into it). */
  continueAs(nodeId: string): void;
  /** Leaves the signed-in user (the page reloads to the join screen). */
  signOut(): void;
  /** Resolves a user and opens the conversation with them. */
  findUser(name: string): Promise<void>;
  openConversation(peer: string): void;
  /** Accepts a message request: it becomes a conversation, which opens. */
  acceptRequest(key: string): Promise<void>;
  /** Drops a message request and blocks the key that wrote it. */
  blockRequest(key: string): Promise<void>;
  /** Makes a group of this user and the members named (looked up first) and opens it; rejects with words for the user. */
  createGroup(name: string, members: string): Promise<void>;
  /** Accepts the open group's invitation. */
  acceptGroup(id: string): Promise<void>;
  /** Leaves a group: its members are told; its messages stay here. */
  leaveGroup(id: string): Promise<void>;
  /** An admin adds members by username (each looked up first); rejects with words for the user. */
  addToGroup(id: string, names: string[]): Promise<void>;
  /** An admin removes a member, who is told; rejects with words for the user. */
  removeFromGroup(id: string, name: string): Promise<void>;
  /** Sends to the open conversation; resolves once the message is committed and shown. */
  send(text: string): Promise<void>;
  retry(id: string): void;
  /** Turns notifications on (the browser asks for its permission the first time) or off. */
  setNotifications(on: boolean): Promise<void>;
  /** Saves the identity to a passphrase-sealed file; rejects with words for the user. */
  exportIdentity(passphrase: string): Promise<void>;
  /** Imports an identity file and switches the tab to it (the page reloads); rejects with words for the user. */
  importIdentity(file: File, passphrase: string): Promise<void>;
  /** Saves the conversations as a JSON file. */
  downloadHistory(): Promise<void>;
  /** Deletes the signed-in identity and all its data in this browser (the page reloads). */
  deleteIdentity(): Promise<void>;
}

/**
 * Binds the engine's Chat to the UI's SessionState: signs in (saved profile) or joins (a new
 * username), mirrors the Chat into state on every change, and implements the actions the
 * components call. The Chat knows nothing of Svelte; the components never see the Chat.
 */
import { Chat } from '../../shared/chat/chat.ts';
import type { Identity } from '../../shared/lib/crypto.ts';
import { ErrorCode, PeerchatError, isPeerchatError } from '../../shared/lib/errors.ts';
import type { RecordService } from '../../shared/chat/record-service.ts';
import type { KademliaNode } from '../../shared/dht/node.ts';
import { cryptoRandom } from '../../shared/lib/random.ts';
import { idToHex } from '../../shared/lib/id.ts';
import { toBase64Url } from '../../shared/lib/encoding.ts';
import { listIdentities, saveToDirectory } from '../storage/identities.ts';
import { identitiesInUse } from '../storage/tab-identity.ts';
import { GROUP_PREFIX, type SessionActions, type SessionState } from '../state/session.svelte.ts';
import type { Attention } from './attention.ts';
import { confirmedKey, typedNames, unconfirmedSenders } from './group-view.ts';

const SAVED_REFRESH_MS = 2_000;
const JOIN_WAIT_MS = 30_000;

export interface SessionOptions {
  state: SessionState;
  node: KademliaNode;
  /** The node's name holders, which the user's chat publishes and resolves through. */
  records: RecordService;
  identity: Identity;
  /** Settles when the node has joined the network. */
  joined: Promise<void>;
  /**
   * The node is the only one online (src/cold-start.ts): Join waits for a second tab or node as
   * long as it takes, saying so, instead of failing after JOIN_WAIT_MS. Unset: never.
   */
  waitingForOthers?: () => boolean;
  /** Whether the identity is kept in IndexedDB (else nothing is saved to the directory). */
  persistent: boolean;
  /** Switches this tab to a saved identity, or to none (sign out): remember it, reload. */
  switchTo(nodeId: string | null): void;
  /** Hands the user a file to save (an identity file, the history). */
  download(file: { fileName: string; text: string }): void;
  /** Stops the node and closes its store, before its database is deleted. */
  shutdown(): Promise<void>;
  /** Told of every change: the title, badge and notifications (attention.ts). */
  attention?: Attention;
  /**
   * Whether the user looks at the tab (visible, its window focused): only then does the open
   * conversation count as read. Unset: whether it is visible.
   */
  looking?: () => boolean;
}

/** The actions on the signed-in user; main.ts adds the browser's (notifications). */
export class Session implements Omit<SessionActions, 'setNotifications'> {
  chat: Chat | null = null;
  private savedTimer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly o: SessionOptions) {}

  /** Signs in if this identity has a profile; otherwise shows the join screen. */
  async start(): Promise<void> {
    const { state, node, records, identity, joined } = this.o;
    const chat = await Chat.open({ node, records }, identity, { ready: joined });
    if (chat) return this.signedIn(chat);
    state.screen = 'signed-out';
    await this.refreshSaved();
    this.savedTimer = setInterval(() => void this.refreshSaved(), SAVED_REFRESH_MS);
  }

  async join(name: string): Promise<void> {
    const { state, node, records, identity } = this.o;
    if (state.screen === 'joining') return;
    state.joinError = null;
    state.screen = 'joining';
    try {
      state.joinProgress = 'Connecting to the network…';
      await this.untilPeers();
      state.joinProgress = 'Claiming your username with the nodes that keep it…';
      const chat = await Chat.register({ node, records }, identity, name);
      if (this.o.persistent) await saveToDirectory({ nodeId: node.hex, name: chat.name, createdAt: Date.now() });
      this.signedIn(chat);
    } catch (err) {
      state.screen = 'signed-out';
      state.joinError = messageOf(err);
    } finally {
      state.joinProgress = null;
    }
  }

  continueAs(nodeId: string): void {
    this.o.switchTo(nodeId);
  }

  /**
   * Imports an identity file as a saved identity and switches this tab to it (the page reloads
   * into it). Rejects with words for the user: a wrong passphrase's contain "passphrase".
   */
  async importIdentity(file: File, passphrase: string): Promise<void> {
    if (!this.o.persistent) throw new PeerchatError(ErrorCode.StorageUnavailable, 'This browser blocks storage for this site, so an identity cannot be imported here.');
    const { importIdentityFile } = await import('../storage/identity-transfer.ts');
    const imported = await importIdentityFile(file, passphrase);
    const dropped = Object.entries(imported.dropped);
    if (dropped.length > 0) console.warn(`Peerchat: entries of the identity file that failed their checks were left out: ${dropped.map(([t, n]) => `${t} ${n}`).join(', ')}`);
    this.o.switchTo(imported.nodeId);
  }

  /** Saves the signed-in identity to a file sealed with `passphrase`. Rejects with words for the user. */
  async exportIdentity(passphrase: string): Promise<void> {
    if (!this.chat) return;
    const { exportIdentityFile } = await import('../storage/identity-transfer.ts');
    this.o.download(await exportIdentityFile(this.o.node.store, this.o.identity, passphrase, cryptoRandom));
  }

  /** Saves the conversations as JSON (history-file.ts, a chunk loaded on first use). */
  async downloadHistory(): Promise<void> {
    if (!this.chat) return;
    const { historyFile } = await import('./history-file.ts');
    if (this.chat) this.o.download(historyFile(this.chat, Date.now()));
  }

  /**
   * Deletes this identity and all its data from this browser: the node stops, its database and
   * directory entry go, and the tab reloads as a new anonymous node.
   */
  async deleteIdentity(): Promise<void> {
    const nodeId = idToHex(this.o.identity.nodeId);
    const entry = (await listIdentities()).find((e) => e.nodeId === nodeId) ?? { nodeId };
    const { deleteIdentity } = await import('../storage/identity-transfer.ts');
    this.chat?.close();
    await this.o.shutdown();
    await deleteIdentity(entry);
    this.o.switchTo(null);
  }

  /**
   * Leaves this user: the tab reloads as an anonymous node (still relaying for others) on the
   * join screen, where "Continue as <name>" brings the user back with everything kept.
   */
  signOut(): void {
    this.o.switchTo(null);
  }

  async findUser(name: string): Promise<void> {
    const { state } = this.o;
    if (!this.chat || state.findBusy) return;
    state.findError = null;
    state.findBusy = true;
    try {
      const contact = await this.chat.findUser(name);
      this.openConversation(contact.name);
    } catch (err) {
      state.findError = messageOf(err);
    } finally {
      state.findBusy = false;
    }
  }

  openConversation(peer: string): void {
    this.o.state.open = peer;
    this.o.state.sendError = null;
    this.mirror();
  }

  /** Shows the message requests (the sidebar lists them): a click on a request's notification. */
  openRequests(): void {
    this.o.state.requestsShown++;
  }

  async acceptRequest(key: string): Promise<void> {
    const peer = await this.chat?.acceptRequest(key);
    if (peer) this.openConversation(peer);
  }

  async blockRequest(key: string): Promise<void> {
    await this.chat?.blockRequest(key);
  }

  async send(text: string): Promise<void> {
    const { state } = this.o;
    if (!this.chat || !state.open) return;
    state.sendError = null;
    try {
      const group = groupOf(state.open);
      if (group) await this.chat.sendToGroup(group, text);
      else await this.chat.send(state.open, text);
    } catch (err) {
      state.sendError = messageOf(err);
    }
  }

  /** Members: usernames separated by commas or spaces. Rejects with words for the user. */
  async createGroup(name: string, members: string): Promise<void> {
    if (!this.chat) return;
    const names = typedNames(members);
    if (names.length === 0) throw new PeerchatError(ErrorCode.BadRequest, 'Name at least one member: usernames separated by commas or spaces.');
    const id = await this.chat.createGroup(name, names);
    this.openConversation(GROUP_PREFIX + id);
  }

  async acceptGroup(id: string): Promise<void> {
    await this.chat?.acceptGroup(id);
  }

  async leaveGroup(id: string): Promise<void> {
    await this.chat?.leaveGroup(id);
  }

  /** Names: usernames (the form checked them first, group-add.ts), each looked up before anything is sent. */
  async addToGroup(id: string, names: string[]): Promise<void> {
    await this.chat?.changeGroupMembers(id, names, []);
  }

  async removeFromGroup(id: string, name: string): Promise<void> {
    await this.chat?.changeGroupMembers(id, [], [name]);
  }

  retry(id: string): void {
    void this.chat?.retry(id);
  }

  private signedIn(chat: Chat): void {
    const { state } = this.o;
    if (this.savedTimer) clearInterval(this.savedTimer);
    this.chat = chat;
    state.me = chat.name;
    state.screen = 'signed-in';
    chat.subscribe(() => this.mirror());
    this.mirror();
  }

  /** The user looks at the tab again: what arrived in the open conversation meanwhile is read now. */
  lookedBack(): void {
    this.mirror();
  }

  /** Copies what the UI shows from the Chat; reading the open conversation marks it read. */
  private mirror(): void {
    const { state } = this.o;
    const chat = this.chat;
    if (!chat) return;
    state.nameLost = chat.nameLost;
    const open = state.open;
    const looking = this.o.looking?.() ?? document.visibilityState === 'visible';
    if (open && looking && chat.conversationList().some((c) => c.peer === open && c.unread > 0)) {
      void chat.markRead(open);
    }
    state.unsent = chat.outboxSize;
    state.conversations = chat.conversationList();
    const groups = chat.groups();
    state.groups = groups.map((g) => ({ id: g.id, name: g.name, unread: g.unread, lastAt: g.lastAt, status: g.status, member: g.member, members: g.members.length }));
    const group = open ? groups.find((g) => GROUP_PREFIX + g.id === open) : undefined;
    if (group && looking && group.unread > 0) void chat.markGroupRead(group.id);
    const myKey = toBase64Url(chat.identity.signingPublic);
    const messages = group ? chat.messagesIn(group.id) : open ? chat.messagesWith(open) : [];
    state.group = group
      ? {
          ...state.groups.find((g) => g.id === group.id)!,
          admin: group.admins.includes(myKey),
          list: group.members.map((m) => {
            const me = m.signingKey === myKey;
            return { name: m.name, me, admin: group.admins.includes(m.signingKey), verified: me || confirmedKey(chat.contact(m.name), m.signingKey) };
          }),
          unverifiedSenders: unconfirmedSenders(messages, (name) => chat.contact(name)),
        }
      : null;
    state.requests = chat.requests().map((r) => {
      const contact = chat.contact(r.name);
      return { key: r.key, name: r.name, verified: contact?.signingKey === r.key && contact.trust === 'verified', firstText: r.messages[0]!.text, messages: r.messages.length };
    });
    state.messages = messages;
    const groupsSeen = state.groups.map((g) => ({ peer: GROUP_PREFIX + g.id, unread: g.unread, title: g.name }));
    this.o.attention?.update([...state.conversations, ...groupsSeen], state.requests, (peer) => newestFrom(chat, peer));
    state.contact = open && !group ? (chat.contact(open) ?? null) : null;
    const safety = open && !group ? chat.safetyNumber(open) : null;
    // Kept as is when unchanged: mirror runs on every change, the digits rarely change.
    if (safety?.join(' ') !== state.safetyNumber?.join(' ')) state.safetyNumber = safety;
  }

  private async refreshSaved(): Promise<void> {
    if (!this.o.persistent) return;
    try {
      const [saved, inUse] = await Promise.all([listIdentities(), identitiesInUse()]);
      this.o.state.saved = saved
        .filter((s) => s.name !== null && s.nodeId !== this.o.node.hex)
        .map((s) => ({ nodeId: s.nodeId, name: s.name!, openElsewhere: inUse.has(s.nodeId) }));
    } catch {
      // The list is a convenience; the join form works without it.
    }
  }

  /**
   * Resolves once the node has joined and has a peer; a clear error after JOIN_WAIT_MS, except
   * while the node is the only one online: then it waits on, and the progress line says for what.
   */
  private async untilPeers(): Promise<void> {
    const { node, joined, state } = this.o;
    const alone = this.o.waitingForOthers ?? (() => false);
    let deadline = Date.now() + JOIN_WAIT_MS;
    await Promise.race([joined, new Promise((resolve) => setTimeout(resolve, JOIN_WAIT_MS))]);
    while (node.neighbours().length === 0) {
      if (alone()) {
        deadline = Date.now() + JOIN_WAIT_MS;
        state.joinProgress = 'Waiting for a second open tab or node…';
      } else {
        state.joinProgress = 'Connecting to the network…';
      }
      if (Date.now() > deadline) throw new PeerchatError(ErrorCode.NoRoute, 'No peers: nobody else is online yet, or the signal server is unreachable. Try again in a moment.');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** The group id in a conversation key, or null for a user's name. */
function groupOf(key: string): string | null {
  return key.startsWith(GROUP_PREFIX) ? key.slice(GROUP_PREFIX.length) : null;
}

function messageOf(err: unknown): string {
  if (isPeerchatError(err)) return err.message;
  return `Something went wrong: ${err instanceof Error ? err.message : String(err)}`;
}

/** The newest message `peer` (a name, or a group's key) wrote, for its notification; a group's says who. */
function newestFrom(chat: Chat, peer: string): string | undefined {
  const group = groupOf(peer);
  const messages = group ? chat.messagesIn(group) : chat.messagesWith(peer);
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (!m.out) return group ? `${m.peer}: ${m.text}` : m.text;
  }
  return undefined;
}

/**
 * Real engine nodes (WebRTC through @roamhq/wrtc, chat from shared/chat) on two signal-server
 * processes that share one Redis. Run by redis-servers.test.ts in a child process (see
 * peer-node.test.ts for why); the test owns Redis, the servers and the proxy, and kills server
 * A when this script asks over IPC. Prints one JSON line of what it saw.
 *
 *   alice, n3  through the proxy (to A while A lives), bob, n4 on B directly, erin later.
 */
import wrtc from '@roamhq/wrtc';
import Peer from 'simple-peer';
import WebSocket from 'ws';
import { Chat } from '../../shared/chat/chat.ts';
import { createIdentity, type Identity } from '../../shared/lib/crypto.ts';
import { SeededRandom } from '../../shared/lib/random.ts';
import { createPeerNode, type PeerNode } from './peer-node.ts';
import type { SignalClientState, SocketLike } from './signal-client.ts';
import type { PeerConstructor } from './webrtc-transport.ts';

interface Config {
  proxy: string;
  b: string;
}
interface Tab {
  name: string;
  p: PeerNode;
  state: SignalClientState;
  /** The ids each `peers` answer gave, in order. */
  firstPeers: string[][];
  identity: Identity;
  chat?: Chat;
}

const config = JSON.parse(process.argv[2]!) as Config;
const random = new SeededRandom(17);
const tabs: Tab[] = [];

async function until(what: string, done: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function open(name: string, baseUrl: string): Promise<Tab> {
  const identity = await createIdentity(random);
  const tab = { name, state: 'connecting', firstPeers: [], identity } as unknown as Tab;
  tab.p = createPeerNode({
    baseUrl,
    identity,
    Peer: Peer as unknown as PeerConstructor,
    wrtc,
    socket: (url) => new WebSocket(url) as unknown as SocketLike,
    onSignalState: (state) => (tab.state = state),
  });
  const peers = tab.p.signal.peers.bind(tab.p.signal);
  tab.p.signal.peers = async (self, n) => {
    const answer = await peers(self, n);
    tab.firstPeers.push(answer.ids);
    return answer;
  };
  const first = tabs.length === 0;
  tabs.push(tab);
  await tab.p.start();
  if (!first) await until(`${name} having a peer`, () => tab.p.node.neighbours().length > 0);
  return tab;
}

async function signIn(tab: Tab): Promise<Chat> {
  tab.chat = await Chat.register({ node: tab.p.node, records: tab.p.records }, tab.identity, tab.name);
  return tab.chat;
}

/** Sends and waits for "delivered" and for the text to show on the other side. */
async function chat(from: Tab, to: Tab, text: string): Promise<void> {
  await from.chat!.send(to.name, text);
  await until(`${from.name} -> ${to.name} "${text}" delivered`, () => from.chat!.messagesWith(to.name).some((m) => m.out && m.text === text && m.status === 'delivered'));
  await until(`${to.name} showing "${text}"`, () => to.chat!.messagesWith(from.name).some((m) => m.text === text));
}

async function stats(baseUrl: string): Promise<{ authenticated: number }> {
  return (await (await fetch(new URL('/stats', baseUrl))).json()) as { authenticated: number };
}

function ask(step: string): Promise<void> {
  return new Promise((resolve) => {
    process.once('message', () => resolve());
    process.send!({ step });
  });
}

// Test 3: tabs on different processes find each other and chat.
const alice = await open('alice', config.proxy); // A
const bob = await open('bob', config.b);
await until('alice having a peer', () => alice.p.node.neighbours().length > 0);
const n3 = await open('n3', config.proxy); // A
const n4 = await open('n4', config.b);
const lastFirstPeers = n4.firstPeers[0] ?? [];
const onA = [alice, n3].map((t) => t.p.node.hex);
const onB = [bob].map((t) => t.p.node.hex);
const firstPeersFromBoth = lastFirstPeers.some((id) => onA.includes(id)) && lastFirstPeers.some((id) => onB.includes(id));
await signIn(alice);
await signIn(bob);
await alice.chat!.findUser('bob');
// Each looks the other up: a message from a sender never looked up waits in message requests.
await bob.chat!.findUser('alice');
const beforeKill: string[] = [];
await chat(alice, bob, 'hi bob');
beforeKill.push('alice->bob');
await chat(bob, alice, 'hi alice');
beforeKill.push('bob->alice');

// Test 4: A dies. Its tabs keep their channels, reconnect through the proxy (now to B), and a
// new tab still joins.
await ask('kill-a');
const killedAt = Date.now();
const afterKill: string[] = [];
await chat(alice, bob, 'A is gone');
afterKill.push('alice->bob');
await chat(bob, alice, 'still here');
afterKill.push('bob->alice');
await until('every tab reconnected', () => tabs.every((t) => t.state === 'ready'));
await until('B holding all four tabs', async () => (await stats(config.b)).authenticated === 4);
const reconnectMs = Date.now() - killedAt;
const erin = await open('erin', config.proxy); // B now
await signIn(erin);
await erin.chat!.findUser('alice');
await alice.chat!.findUser('erin');
await chat(erin, alice, 'hi alice, from erin');
await chat(alice, erin, 'hi erin');

for (const t of tabs) {
  t.chat?.close();
  t.p.close();
}
console.log(JSON.stringify({ firstPeersFromBoth, lastFirstPeers, onA, onB, beforeKill, afterKill, reconnectMs, erinChatted: true }));
process.exit(0);

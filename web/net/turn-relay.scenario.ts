/**
 * Two real WebRTC connections (@roamhq/wrtc) in one Node process, allowed to use TURN relays
 * only, given the ICE servers in argv[2] (JSON). Run by turn-relay.test.ts in a child process for
 * the reason web/net/peer-node.test.ts gives (the native library's SIGSEGV near a close).
 * Prints one JSON line: whether a data channel opened within argv[3] ms, the messages each side
 * got, and the candidate types of each side's selected pair.
 */
import wrtc from '@roamhq/wrtc';

/** What the scenario prints (its last line, JSON); turn-relay.test.ts reads it. */
export interface Outcome {
  connected: boolean;
  /** From creating the connections to both channel ends open. */
  setupMs: number;
  states: string[];
  received: { a: string[]; b: string[] };
  /** [local, remote] candidate types of each side's selected pair. */
  selected: { a: string[]; b: string[] };
}

const iceServers = JSON.parse(process.argv[2] ?? '[]') as RTCIceServer[];
const waitMs = Number(process.argv[3] ?? 10_000);
const config: RTCConfiguration = { iceServers, iceTransportPolicy: 'relay' };
const started = Date.now();
const a: RTCPeerConnection = new wrtc.RTCPeerConnection(config);
const b: RTCPeerConnection = new wrtc.RTCPeerConnection(config);
const received = { a: [] as string[], b: [] as string[] };
// Trickle each side's candidates straight to the other: the test is about TURN, not signaling.
a.onicecandidate = (e) => void (e.candidate && b.addIceCandidate(e.candidate).catch(() => {}));
b.onicecandidate = (e) => void (e.candidate && a.addIceCandidate(e.candidate).catch(() => {}));

const channelA = a.createDataChannel('turn-relay');
let channelB: RTCDataChannel | null = null;
let openA = false;
channelA.onopen = () => (openA = true);
channelA.onmessage = (e) => received.a.push(String(e.data));
b.ondatachannel = (e) => {
  channelB = e.channel;
  channelB.onmessage = (m) => received.b.push(String(m.data));
};

await a.setLocalDescription(await a.createOffer());
await b.setRemoteDescription(a.localDescription!);
await b.setLocalDescription(await b.createAnswer());
await a.setRemoteDescription(b.localDescription!);

async function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

/** The candidate types of the pair the transport selected (the nominated, succeeded one). */
async function selectedTypes(pc: RTCPeerConnection): Promise<string[]> {
  const stats = await pc.getStats();
  const byId = new Map<string, Record<string, unknown>>();
  stats.forEach((s: Record<string, unknown>) => byId.set(String(s['id']), s));
  const transport = [...byId.values()].find((s) => s['type'] === 'transport' && s['selectedCandidatePairId']);
  const pair = transport
    ? byId.get(String(transport['selectedCandidatePairId']))
    : [...byId.values()].find((s) => s['type'] === 'candidate-pair' && s['nominated'] && s['state'] === 'succeeded');
  if (!pair) return [];
  const type = (id: unknown) => String(byId.get(String(id))?.['candidateType']);
  return [type(pair['localCandidateId']), type(pair['remoteCandidateId'])];
}

const connected = await until(() => openA && channelB?.readyState === 'open', waitMs);
const setupMs = Date.now() - started;
const outcome: Outcome = { connected, setupMs, states: [a.connectionState, b.connectionState], received, selected: { a: [], b: [] } };
if (connected) {
  channelA.send('ping from a');
  channelB!.send('pong from b');
  await until(() => received.a.length > 0 && received.b.length > 0, 5_000);
  outcome.selected = { a: await selectedTypes(a), b: await selectedTypes(b) };
}
console.log(JSON.stringify(outcome));
// Exit without closing: closing these connections is where the native library crashes, and
// the process ending frees them (coturn lets the allocations expire).
process.exit(0);

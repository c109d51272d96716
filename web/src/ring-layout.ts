/**
 * The Network panel's picture (components/NetworkRing.svelte) as plain data: where each id sits
 * on the 160-bit id ring and what is drawn there. Pure, so it is tested without a browser.
 *
 * Positions are relative: this node is at the top, and an id sits (id - self) mod 2^160 of the
 * way round clockwise, so the same id space reads the same in every tab from where it stands.
 * Only the first 52 bits count (a double's mantissa): one part in 4.5e15 of a turn.
 *
 * The viewBox is 200 × 200 around (0, 0): the SVG scales to any width, a 360 px phone's too.
 */

export const VIEW = 200;
export const RING_R = 84;
/** The near subtree's arc is drawn at least this much of a turn wide: a dense network's is a sliver. */
export const MIN_ARC_TURN = 0.02;

const TOP_DIGITS = 13;
const TOP_SPAN = 2 ** (TOP_DIGITS * 4);

/** One hop of a lookup, as the panel has it (NetworkState). */
export interface RingHopInput {
  path: number;
  hop: number;
  hex: string;
  ms: number;
  outcome: 'answered' | 'timeout' | 'failed';
}

export interface RingInput {
  self: string;
  peers: readonly string[];
  /** Bits of prefix the near subtree shares with this node (null: none yet). */
  nearBits: number | null;
  mailbox: readonly string[];
  record: readonly string[];
  lookup: { key: string; hops: readonly RingHopInput[] } | null;
}

export interface Point {
  x: number;
  y: number;
}

export interface RingDot extends Point {
  hex: string;
  near: boolean;
  mailbox: boolean;
  record: boolean;
}

export interface RingHop {
  path: number;
  hop: number;
  from: Point;
  to: Point;
  /** Where the label goes, and what it says ("2 · 35 ms"). */
  at: Point;
  label: string;
  ok: boolean;
}

export interface RingModel {
  self: Point & { record: boolean };
  dots: RingDot[];
  /** The near subtree's arc as an SVG path, or a whole circle (`full`), or nothing yet. */
  near: { d: string; full: boolean } | null;
  key: Point | null;
  hops: RingHop[];
  summary: string;
}

/** How far round the ring `hex` is from `origin`, clockwise, in turns [0, 1). */
export function turnOf(hex: string, origin: string): number {
  const a = parseInt(hex.slice(0, TOP_DIGITS), 16);
  const o = parseInt(origin.slice(0, TOP_DIGITS), 16);
  return (((a - o) % TOP_SPAN) + TOP_SPAN) % TOP_SPAN / TOP_SPAN;
}

/** A point at `turn` of the way round a circle of radius r, the top being 0, to 0.1 units. */
export function pointAt(turn: number, r = RING_R): Point {
  const a = turn * 2 * Math.PI;
  return { x: round(r * Math.sin(a)), y: round(-r * Math.cos(a)) };
}

/** How many leading bits two ids (40 hex) share. */
export function sharedPrefixBits(a: string, b: string): number {
  for (let i = 0; i < a.length; i++) {
    const x = parseInt(a[i]!, 16) ^ parseInt(b[i]!, 16);
    if (x !== 0) return i * 4 + Math.clz32(x) - 28;
  }
  return a.length * 4;
}

/**
 * The arc of ids that share `bits` leading bits with `self`, in turns relative to self
 * [start <= 0 <= end]: the near subtree. Widened to MIN_ARC_TURN around self when narrower.
 */
export function nearArc(self: string, bits: number): { start: number; end: number } {
  const size = 2 ** -bits;
  if (size < MIN_ARC_TURN) return { start: -MIN_ARC_TURN / 2, end: MIN_ARC_TURN / 2 };
  const here = parseInt(self.slice(0, TOP_DIGITS), 16) / TOP_SPAN;
  const start = Math.floor(here / size) * size - here;
  return { start, end: start + size };
}

export function buildRing(input: RingInput): RingModel {
  const { self, nearBits } = input;
  const mailbox = new Set(input.mailbox);
  const record = new Set(input.record);
  const at = (hex: string) => pointAt(turnOf(hex, self));
  const dots = input.peers.map((hex) => ({
    hex,
    ...at(hex),
    near: nearBits !== null && sharedPrefixBits(self, hex) >= nearBits,
    mailbox: mailbox.has(hex),
    record: record.has(hex),
  }));
  const hops = input.lookup ? lookupHops(self, input.lookup.hops) : [];
  const near = nearBits === null ? null : arcPath(nearArc(self, nearBits));
  return {
    self: { ...pointAt(0), record: record.has(self) },
    dots,
    near,
    key: input.lookup ? at(input.lookup.key) : null,
    hops,
    summary: summary(input, dots),
  };
}

/** Each path's hops as lines from this node, hop to hop, labelled with number and time. */
function lookupHops(self: string, hops: readonly RingHopInput[]): RingHop[] {
  const out: RingHop[] = [];
  let from = pointAt(0);
  let path = -1;
  for (const h of hops) {
    if (h.path !== path) {
      path = h.path;
      from = pointAt(0);
    }
    const to = pointAt(turnOf(h.hex, self));
    // Two paths' labels on one chord would overlap: each path puts them at its own share of the line.
    const f = path % 2 === 0 ? 0.6 : 0.4;
    const at = { x: round(from.x + (to.x - from.x) * f), y: round(from.y + (to.y - from.y) * f) };
    out.push({ path, hop: h.hop, from, to, at, label: `${h.hop} · ${h.outcome === 'answered' ? `${h.ms} ms` : 'no answer'}`, ok: h.outcome === 'answered' });
    from = to;
  }
  return out;
}

function arcPath({ start, end }: { start: number; end: number }): { d: string; full: boolean } {
  if (end - start >= 1) return { d: '', full: true };
  const a = pointAt(start);
  const b = pointAt(end);
  const large = end - start > 0.5 ? 1 : 0;
  return { d: `M${a.x} ${a.y}A${RING_R} ${RING_R} 0 ${large} 1 ${b.x} ${b.y}`, full: false };
}

function summary(input: RingInput, dots: RingDot[]): string {
  const n = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;
  const parts = [
    `The 160-bit id ring, this node at the top: ${n(dots.length, 'live peer')}`,
    `${dots.filter((d) => d.near).length} in its near subtree`,
  ];
  if (input.mailbox.length > 0 || input.record.length > 0) {
    parts.push(`${n(input.mailbox.length, 'mailbox holder')}`, `${n(input.record.length, 'name holder')}`);
  }
  let text = parts.join(', ') + '.';
  if (input.lookup) {
    const paths = new Set(input.lookup.hops.map((h) => h.path)).size;
    text += ` Last lookup: ${n(input.lookup.hops.length, 'hop')} over ${n(paths, 'path')}.`;
  }
  return text;
}

function round(v: number): number {
  return Math.round(v * 10) / 10 || 0; // never -0
}

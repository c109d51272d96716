/**
 * Who a name's holders are, as a lookup learns it (record-service.ts read): pure bookkeeping of
 * candidates, who named each, and which answered as themselves. The service does the asking.
 *
 * A liar on a lookup's path can name made-up ids next to the key (always the "closest", never
 * able to answer as themselves) and its fellow liars as the name's holders, and can answer in an
 * honest holder's place. So a candidate that does not answer is replaced by the next closest,
 * the nodes each holder that did answer names are candidates too (the Kademlia way), and a
 * source that named MAX_STRIKES candidates that never answered is a liar: its answer, its vote
 * and every candidate only it named are dropped, so made-up ids cannot crowd out the holders
 * faster than they are found out. Where the bootstrap service can say whether a tab has a
 * silent candidate's id, only its "no" is a strike (notANode); its "yes" is none (silentTab).
 */
import { bucketIndex, closestHexes, ID_BITS, idFromHex, log2Distance, type NodeId } from '../lib/id.ts';

/**
 * Candidates a source may name that never answer before it counts as lying. An honest node
 * names only its open channels, but one may leave meanwhile, and liars on every path to an
 * honest holder make it look silent: at 2, two such holders of one name discredited every
 * honest node that named both, with their votes (N = 200, a tenth lying, seed 1).
 */
export const MAX_STRIKES = 3;

/** A source the lookup cannot blame: its own view, or a routed answer from an unknown node. */
const UNBLAMED = '';

/**
 * Candidates outside the holders that one round asks for their closest sets, while fewer
 * plausible holders than r are known (HolderSearch.toAsk).
 */
export const EXPLORERS_PER_ROUND = 3;

export class HolderSearch<R> {
  /** Candidate -> the sources that named it. */
  private readonly namedBy = new Map<string, Set<string>>();
  private readonly answers = new Map<string, R>();
  private readonly failed = new Set<string>();
  private readonly strikes = new Map<string, number>();
  private readonly liars = new Set<string>();
  /** Silent candidates the bootstrap service knows as tabs (silentTab). */
  private readonly tabs = new Set<string>();
  /** Ids the bootstrap service says are no tab (notANode). */
  private readonly gone = new Set<string>();
  /** Every node that answered as itself, liars found out included: nodes the network has. */
  private readonly heard = new Set<string>();

  private readonly key: NodeId;
  private readonly log2Of = new Map<string, number>();

  /**
   * `maxLog2`: how far (log2 of the XOR distance) from the key a holder may plausibly be, from
   * the network's density as the looker sees it (plausibleHolderLog2); Infinity, no limit;
   * null, unknown (the looker knows too few nodes): no limit, and every round explores. A liar
   * near the key can name only its fellows, most of them far from the key, and they answer: with
   * nothing closer known, they were the r closest and the holders' votes were all theirs (at
   * N = 1,000, F = 0.1, 3 of the first 12 Joins read back only liars, three times over). Far
   * candidates do not vote; they are asked for their closest sets until r plausible ones are known.
   */
  constructor(
    private readonly keyHex: string,
    private readonly r: number,
    private readonly maxLog2: number | null = Infinity,
    /** What a vote says, for telling votes apart (split): a record's signing key, say. */
    private readonly voteKey: (answer: R) => string = (answer) => String(answer),
  ) {
    this.key = idFromHex(keyHex)!;
  }

  /** Candidates named by the looker's own view or by answers it cannot attribute. */
  add(hexes: Iterable<string>, by = UNBLAMED): void {
    if (this.liars.has(by)) return;
    for (const hex of hexes) {
      // Naming one that was asked and did not answer is a strike at once: else every liar
      // found after the made-up ids failed vouched for them afresh, and they kept r slots.
      if (this.failed.has(hex) && !this.answers.has(hex) && !this.tabs.has(hex) && by !== UNBLAMED) {
        this.strike(by);
        if (this.liars.has(by)) return;
      }
      const set = this.namedBy.get(hex);
      if (set) set.add(by);
      else this.namedBy.set(hex, new Set([by]));
    }
  }

  /**
   * The r closest candidates still believed: who the holders are, as far as is known. One that
   * did not answer stays while a source not found lying named it (a liar on every path to an
   * honest holder must not hand its place, and its vote, to a farther node): it abstains.
   */
  holders(): string[] {
    return closestHexes(this.keyHex, this.believed().filter((h) => this.plausible(h)), this.r);
  }

  /**
   * Of the holders, those to ask next: not yet asked, and at most MAX_STRIKES named only by any
   * one source at a time, so that a source naming made-up ids is found out for MAX_STRIKES asks,
   * not for as many as it named.
   */
  toAsk(): string[] {
    const out: string[] = [];
    const charged = new Map<string, number>();
    for (const hex of this.holders()) {
      if (this.answers.has(hex) || this.failed.has(hex)) continue;
      const by = [...this.namedBy.get(hex)!];
      if (!by.includes(UNBLAMED) && by.every((s) => (charged.get(s) ?? 0) >= MAX_STRIKES)) continue;
      for (const s of by) charged.set(s, (charged.get(s) ?? 0) + 1);
      out.push(hex);
    }
    // Too few plausible holders known, or no way to tell (maxLog2 null): the closest of the
    // others not yet asked are asked for theirs too, one step nearer the key each. Without it a
    // liar near the key that names only its fellows keeps the r closest candidates to them.
    const holders = new Set(this.holders());
    const far = this.believed().filter((h) => !holders.has(h) && !this.answers.has(h) && !this.failed.has(h));
    if (this.maxLog2 === null || holders.size < this.r) return out.concat(closestHexes(this.keyHex, far, EXPLORERS_PER_ROUND));
    const explorers = this.dissenters(holders, new Set(far));
    if (!this.split()) return out.concat(explorers);
    // The holders disagree: the closest plausible candidates beyond them are asked too, for the
    // nodes they name. Honest holders' views of the name's neighbourhood can lack some of its
    // nodes; liars near the name name one another, and filled the r closest known: at
    // N = 1,000, F = 0.2, seed 2, 5 liars among the 11 nodes nearest a name had 5 votes of 8,
    // the honest 6th, 7th and 9th nearest named by no holder, only by a candidate farther out.
    const more = closestHexes(this.keyHex, far.filter((h) => this.plausible(h) && !explorers.includes(h)), EXPLORERS_PER_ROUND);
    return out.concat(explorers, more);
  }

  /** Holders not yet asked (the rounds ended first): the late pass checks them (record-service.ts read). */
  unasked(): string[] {
    return this.holders().filter((h) => !this.answers.has(h) && !this.failed.has(h));
  }

  /** Whether the holders' votes say more than one thing. */
  private split(): boolean {
    const said = new Set<string>();
    for (const answer of this.votes().values()) said.add(this.voteKey(answer));
    return said.size > 1;
  }

  /**
   * With r plausible holders known: the closest candidate (not yet asked) of each source that
   * named none of them, up to EXPLORERS_PER_ROUND. Liars near the key name only each other;
   * once they are the r closest known, the search stops, and the honest nodes whose views
   * share none of them (a looker's far scouts) are never followed toward the real holders (at
   * N = 1,000, F = 0.1, a looker took 8 liars, 6 of them far from the name, for the holders).
   */
  private dissenters(holders: ReadonlySet<string>, far: ReadonlySet<string>): string[] {
    const views = new Map<string, string[]>();
    for (const [hex, by] of this.namedBy) for (const s of by) if (s !== UNBLAMED) views.set(s, [...(views.get(s) ?? []), hex]);
    const out = new Set<string>();
    for (const [source, named] of views) {
      if (out.size >= EXPLORERS_PER_ROUND) break;
      if (holders.has(source) || named.some((h) => holders.has(h))) continue;
      const [next] = closestHexes(this.keyHex, named.filter((h) => far.has(h) && !out.has(h)), 1);
      if (next !== undefined) out.add(next);
    }
    return [...out];
  }

  answered(hex: string, answer: R, nodes: readonly string[]): void {
    this.heard.add(hex);
    if (this.liars.has(hex)) return;
    this.answers.set(hex, answer);
    this.add(nodes, hex);
  }

  /**
   * The sources that named `hex` and answered as themselves, not found lying: each has a channel
   * to it, so an ask can go through them (record-service.ts askRouted). Nearest to it first.
   */
  namers(hex: string): string[] {
    const by = [...(this.namedBy.get(hex) ?? [])].filter((s) => s !== UNBLAMED && this.answers.has(s) && !this.liars.has(s));
    return closestHexes(hex, by, by.length);
  }

  /** `hex` did not answer as itself: it is dropped, and each source that named it gets a strike (once). */
  noAnswer(hex: string): void {
    if (this.failed.has(hex)) return;
    this.failed.add(hex);
    for (const by of this.namedBy.get(hex) ?? []) if (by !== UNBLAMED) this.strike(by);
  }

  private strike(by: string): void {
    const n = (this.strikes.get(by) ?? 0) + 1;
    this.strikes.set(by, n);
    if (n >= MAX_STRIKES) this.discredit(by);
  }

  /**
   * `hex` did not answer, but the bootstrap service knows a tab with its id: what kept it
   * silent were the nodes on the paths to it (liars answer in an honest holder's place on every
   * path), not the nodes that named it, which get no strike. A lookup dials it through the
   * service and asks it directly (record-service.ts askOrSettle); one it still cannot reach
   * abstains while vouched for.
   */
  silentTab(hex: string): void {
    this.failed.add(hex);
    this.tabs.add(hex);
  }

  /**
   * `hex` did not answer, and the bootstrap service says no tab has its id: each source that
   * named it gets a strike, and it loses its place for good.
   */
  notANode(hex: string): void {
    this.noAnswer(hex);
    this.gone.add(hex);
  }

  /** Sources found lying so far. */
  get liarCount(): number {
    return this.liars.size;
  }

  /** The answers of the holders (closest r believed) that answered, by holder. */
  votes(): Map<string, R> {
    const out = new Map<string, R>();
    for (const hex of this.holders()) if (this.answers.has(hex)) out.set(hex, this.answers.get(hex)!);
    return out;
  }

  /** Holders that did not answer: no vote, but still counted in what a majority must exceed. */
  abstained(): number {
    return this.holders().filter((h) => !this.answers.has(h)).length;
  }

  /**
   * The holders a majority must count beside the votes, `known` being the nodes the looker
   * knows besides those that answered (itself and its channels). Where the density is known the
   * name has r holders, found or not: a key needs more than half of r votes, so a few liars who
   * are the only plausible holders a looker found (its every route out passes them) cannot make
   * the majority by themselves. Where it is not (fewer than r channels), a network with r nodes
   * or more still gives the name r holders: at N = 1,000, F = 0.2, a node left with a few
   * channels heard 3 liars, found them out, and took its own copy (a liar's STORE it had kept)
   * as the 1 vote of 1.
   */
  unheard(known: Iterable<string>): number {
    const votes = this.votes().size;
    if (this.maxLog2 !== null) return Math.max(0, this.r - votes);
    return Math.max(this.abstained(), Math.min(this.nodesKnown(known), this.r) - votes);
  }

  /** How many nodes the network is known to have: `known` and those that answered as themselves. */
  private nodesKnown(known: Iterable<string>): number {
    return new Set([...known, ...this.heard]).size;
  }

  /** Candidates not dropped: not liars, and answered or still vouched for. */
  private believed(): string[] {
    return [...this.namedBy.keys()].filter((h) => !this.liars.has(h) && !this.gone.has(h) && (!this.failed.has(h) || this.vouched(h)));
  }

  private plausible(hex: string): boolean {
    if (this.maxLog2 === null || this.maxLog2 === Infinity) return true;
    let d = this.log2Of.get(hex);
    if (d === undefined) {
      const id = idFromHex(hex);
      d = id ? log2Distance(id, this.key) : Infinity;
      this.log2Of.set(hex, d);
    }
    return d <= this.maxLog2;
  }

  /**
   * A candidate that failed is kept when the looker's own view named it (a neighbour) or a
   * source with fewer than MAX_STRIKES misses did: too little to call either a liar.
   */
  private vouched(hex: string): boolean {
    for (const by of this.namedBy.get(hex) ?? []) if (by === UNBLAMED || (this.strikes.get(by) ?? 0) < MAX_STRIKES) return true;
    return false;
  }

  private discredit(liar: string): void {
    this.liars.add(liar);
    this.answers.delete(liar);
    for (const [hex, by] of this.namedBy) {
      by.delete(liar);
      if (by.size === 0) this.namedBy.delete(hex);
    }
  }
}

/**
 * How far from any key its r closest nodes plausibly lie, as log2 of the XOR distance, from the
 * density of this node's own near subtree: the whole buckets nearest it, taken until they hold
 * r of its `neighbours` (m in all, within 2^(b+1) of it). Upkeep keeps a channel to every node
 * there (dht/maintenance.ts), so m is a count of all the nodes in a subtree of known size; ids
 * are uniform, so r nodes lie within 2^(b+1) * r/m of any key, times 2^slackLog2
 * (HOLDER_SLACK_LOG2) for the variation between neighbourhoods. Its other channels, one per
 * far bucket, say nothing of density: the 16th nearest neighbour lay in the far half of the id
 * space for most nodes at N = 1,000, and a radius read from it let every liar vote. Null with
 * fewer than r neighbours (a network that small has every node near every key, and a node just
 * started knows too few to judge).
 */
export function plausibleHolderLog2(self: NodeId, neighbours: readonly { id: NodeId }[], r: number, slackLog2: number): number | null {
  const near = nearSubtree(self, neighbours, r);
  return near && near.bucket + 1 + Math.log2(r / near.nodes) + slackLog2;
}

/**
 * The same bound from the network's size as the bootstrap service counts it (`live` nodes):
 * r of them lie within 2^160 * r/live of any key, times 2^slackLog2; null when unknown or no
 * larger than r (then every node may hold every name). A node's own near subtree can be
 * skewed: one whose neighbourhood's nodes are all behind liars (its dials there die at them)
 * has only far channels, and read a subtree 3 bits deep as its near one, a radius of 2^158.9
 * at N = 1,000 where 2^155 holds 32 nodes, and counted 7 liars' votes from all over that half
 * of the id space (F = 0.2, seed 1). The service's count is not a peer's word, and liars can
 * only raise it, by holding more of its sockets: a narrower radius, never a wider one.
 */
export function censusHolderLog2(live: number | null, r: number, slackLog2: number): number | null {
  return live !== null && live > r ? ID_BITS + Math.log2(r / live) + slackLog2 : null;
}

/** The narrower of the two bounds (plausibleHolderLog2, censusHolderLog2) that are known. */
export function holderRadiusLog2(own: number | null, census: number | null): number | null {
  if (own === null) return null;
  return census === null ? own : Math.min(own, census);
}

/**
 * This node's near subtree as its `neighbours` show it: the whole buckets nearest it, taken
 * until they hold r of them (the highest bucket's index, and the neighbours in it); null with
 * fewer than r neighbours. Upkeep keeps a channel to every node there, so this node's table is
 * complete within it and holds one channel per bucket outside it.
 */
export function nearSubtree(self: NodeId, neighbours: readonly { id: NodeId }[], r: number): { bucket: number; nodes: number } | null {
  const buckets = neighbours.map((n) => bucketIndex(self, n.id)).filter((b) => b >= 0).sort((a, b) => a - b);
  if (buckets.length < r) return null;
  // The bucket the r-th nearest falls in closes the subtree; all of that bucket is in it.
  const b = buckets[r - 1]!;
  let m = r;
  while (m < buckets.length && buckets[m] === b) m++;
  return { bucket: b, nodes: m };
}

/**
 * Whether an id lies in this node's near subtree (nearSubtree), where its table is complete;
 * while it has fewer than r neighbours, every id does.
 */
export function inNearSubtree(self: NodeId, neighbours: readonly { id: NodeId }[], r: number): (id: NodeId) => boolean {
  const near = nearSubtree(self, neighbours, r);
  return (id) => near === null || bucketIndex(self, id) <= near.bucket;
}

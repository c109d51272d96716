/**
 * RedisBackend's presence store: the Lua scripts and the class that runs them with the right
 * keys and checks what they answer. Each backend call is one script, so it is atomic in Redis and
 * its commands reach Redis in the order the calls were made (one connection, one command per
 * call). Presence keys are read by name inside the scripts (`prefix .. id`), which is fine on
 * one Redis (or a primary with replicas) and not meant for Redis Cluster.
 *
 * Layout, under the backend's prefix (default `peerchat:`):
 *   tab:<id>     "<process>/<token>": who holds the id, expiring unless refreshed (heartbeat)
 *   since        sorted set of ids scored by when the registration was made (ms, the registering
 *                process's clock): those at or below a cutoff are settled
 *   proc:<proc>  the pub/sub channel of one process: relays, their results, replaced notices
 *
 * Randomness and time come from the caller as arguments (a seed, a cutoff), never from inside a
 * script: Redis seeds a script's math.random the same way on every call unless the script
 * reseeds it, and a script's writes must follow from its arguments to replicate the same. Tests
 * hand in a seeded random and a fake clock.
 */
import type { Random } from '../../shared/lib/random.ts';

/**
 * A registration's time starts over, even for an id registered before (a reconnect).
 * KEYS: tab key, since. ARGV: value, ttl ms, id, registered at (ms), channel prefix.
 */
export const REGISTER = `
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
if old and old ~= ARGV[1] then
  local proc = string.match(old, '^([0-9a-f]+)/')
  local mine = string.match(ARGV[1], '^([0-9a-f]+)/')
  if proc and proc ~= mine then
    redis.call('PUBLISH', ARGV[5] .. proc, cjson.encode({k = 'replaced', id = ARGV[3], owner = old}))
  end
end
return 0`;

/** KEYS: tab key, since. ARGV: value, id. Only the holder's own registration is removed. */
export const UNREGISTER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return 0`;

/**
 * Heartbeat and recovery: puts back (or refreshes) each registration that is missing or still
 * this process's, keeping its registration time (NX: a refresh does not start it over, and one
 * put back after Redis lost it gets the time the process kept); returns the ids another process
 * has taken meanwhile. KEYS: since, then one tab key per entry. ARGV: ttl ms, then id, value,
 * registered at per entry.
 */
export const ASSERT = `
local lost = {}
for i = 2, #KEYS do
  local j = (i - 2) * 3 + 2
  local id, value = ARGV[j], ARGV[j + 1]
  local current = redis.call('GET', KEYS[i])
  if current == false or current == value then
    redis.call('SET', KEYS[i], value, 'PX', ARGV[1])
    redis.call('ZADD', KEYS[1], 'NX', ARGV[j + 2], id)
  else
    table.insert(lost, id)
  end
end
return lost`;

/**
 * Up to n ids other than the asker, drawn uniformly at random without replacement from the
 * settled (score at or below the cutoff), then, while too few, from the rest: a partial
 * Fisher-Yates shuffle over ranks, each drawn rank one ZRANGE. Members whose presence expired
 * (their process died) are dropped after the draw, so ranks stay put while it runs.
 * KEYS: since. ARGV: tab key prefix, asker, n, most members to look at, cutoff ms, seed.
 */
export const PICK = `
local n, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
math.randomseed(tonumber(ARGV[6]))
local settled = redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[5])
local total = redis.call('ZCARD', KEYS[1])
local picked, stale, looked = {}, {}, 0
local function draw(lo, hi)
  local moved = {}
  for i = lo, hi - 1 do
    if #picked >= n or looked >= limit then return end
    local j = math.random(i, hi - 1)
    local rank = moved[j] or j
    moved[j] = moved[i] or i
    looked = looked + 1
    local id = redis.call('ZRANGE', KEYS[1], rank, rank)[1]
    if id and id ~= ARGV[2] then
      if redis.call('EXISTS', ARGV[1] .. id) == 1 then table.insert(picked, id) else table.insert(stale, id) end
    end
  end
end
draw(0, settled)
draw(settled, total)
for _, id in ipairs(stale) do redis.call('ZREM', KEYS[1], id) end
return picked`;

/**
 * How many ids are registered. An id whose process died counts until a draw or a relay finds
 * its presence expired and drops it: the count errs high, which only narrows the radius tabs
 * take from it (backend.ts live). KEYS: since.
 */
export const COUNT = `return redis.call('ZCARD', KEYS[1])`;

/**
 * Whether the id is registered: its presence key, which expires with its process (so the id of
 * a process that died counts for up to the presence expiry: this errs toward "connected").
 * KEYS: tab key.
 */
export const IS_TAB = `return redis.call('EXISTS', KEYS[1])`;

/**
 * Where a relay goes: {0} nobody holds the id; {1, owner} this process does; {2, owner} the
 * message was published to the owner's channel. An owner whose channel has no subscriber is
 * dead (or cut off: it puts itself back on recovery), so its registration is dropped.
 * KEYS: tab key, since. ARGV: this process, channel prefix, message, id.
 */
export const RELAY = `
local owner = redis.call('GET', KEYS[1])
if not owner then return {0} end
local proc = string.match(owner, '^([0-9a-f]+)/')
if not proc then return {0} end
if proc == ARGV[1] then return {1, owner} end
if redis.call('PUBLISH', ARGV[2] .. proc, ARGV[3]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[4])
  return {0}
end
return {2, owner}`;

const HEX40 = /^[0-9a-f]{40}$/;
/** "<process>/<token>" as this backend writes it. */
export const OWNER = /^[0-9a-f]{16}\/[0-9]{1,15}$/;

/** PICK's answer, kept only as far as it is what we asked for: distinct ids, not the asker, ≤ n. */
export function pickedIds(reply: unknown, askerId: string, n: number): string[] {
  if (!Array.isArray(reply)) return [];
  const ids = new Set<string>();
  for (const id of reply) {
    if (ids.size >= n) break;
    if (typeof id === 'string' && HEX40.test(id) && id !== askerId) ids.add(id);
  }
  return [...ids];
}

/** ASSERT's answer: the lost ids among those sent. */
export function lostIds(reply: unknown, sent: ReadonlySet<string>): string[] {
  if (!Array.isArray(reply)) return [];
  return reply.filter((id): id is string => typeof id === 'string' && sent.has(id));
}

export type RelayRoute = { to: 'nobody' } | { to: 'here' | 'there'; owner: string };

/** RELAY's answer; anything malformed counts as nobody. */
export function relayRoute(reply: unknown): RelayRoute {
  if (!Array.isArray(reply) || reply.length < 1) return { to: 'nobody' };
  const [kind, owner] = reply as unknown[];
  if ((kind !== 1 && kind !== 2) || typeof owner !== 'string' || !OWNER.test(owner)) return { to: 'nobody' };
  return { to: kind === 1 ? 'here' : 'there', owner };
}

/** One registration as ASSERT takes it. */
export interface Presence {
  id: string;
  /** "<process>/<token>". */
  value: string;
  /** When it was registered (ms): put back with this time, so it does not restart settling. */
  since: number;
}

/** The command connection, as far as the store uses it. */
export interface ScriptRunner {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
  pubSubNumSub(channels: string[]): Promise<Record<string, number>>;
}

/** PICK looks at most at this many members per call (stale ones and the asker included). */
const PICK_SCAN_LIMIT = 1_000;
/** PICK's seed is a Lua int (32-bit signed): drawn in [0, 2^31 - 1). */
const SEED_RANGE = 2 ** 31 - 1;

/** The scripts with their keys; every answer is checked before it is returned. */
export class RedisPresence {
  constructor(
    private readonly redis: ScriptRunner,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  /** `since`: when the registration was made (ms). */
  async register(id: string, value: string, since: number): Promise<void> {
    await this.redis.eval(REGISTER, { keys: [this.tabKey(id), this.since], arguments: [value, String(this.ttlMs), id, String(since), this.channel('')] });
  }

  async unregister(id: string, value: string): Promise<void> {
    await this.redis.eval(UNREGISTER, { keys: [this.tabKey(id), this.since], arguments: [value, id] });
  }

  /** Refreshes or puts back each entry still this process's; returns the ids taken elsewhere. */
  async assert(entries: Presence[]): Promise<string[]> {
    const keys = [this.since, ...entries.map((e) => this.tabKey(e.id))];
    const args = [String(this.ttlMs), ...entries.flatMap((e) => [e.id, e.value, String(e.since)])];
    return lostIds(await this.redis.eval(ASSERT, { keys, arguments: args }), new Set(entries.map((e) => e.id)));
  }

  /** Settled means registered at or before `cutoff` (ms); `random` seeds the draw. */
  async pick(askerId: string, n: number, cutoff: number, random: Random): Promise<string[]> {
    const args = [this.tabKey(''), askerId, String(n), String(PICK_SCAN_LIMIT), String(cutoff), String(random.int(SEED_RANGE))];
    return pickedIds(await this.redis.eval(PICK, { keys: [this.since], arguments: args }), askerId, n);
  }

  /** How many ids are registered, as a count Redis answers (0 for anything else). */
  async count(): Promise<number> {
    const n = await this.redis.eval(COUNT, { keys: [this.since], arguments: [] });
    return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : 0;
  }

  /** Whether `id` is registered; throws on an answer that is not EXISTS's 0 or 1, never guesses. */
  async isTab(id: string): Promise<boolean> {
    const n = await this.redis.eval(IS_TAB, { keys: [this.tabKey(id)], arguments: [] });
    if (n !== 0 && n !== 1) throw new Error(`EXISTS answered ${String(n).slice(0, 40)}`);
    return n === 1;
  }

  /** Where the tab `to` is; publishes `message` to its process when that is another one. */
  async route(to: string, process: string, message: string): Promise<RelayRoute> {
    return relayRoute(await this.redis.eval(RELAY, { keys: [this.tabKey(to), this.since], arguments: [process, this.channel(''), message, to] }));
  }

  async publish(process: string, message: string): Promise<void> {
    await this.redis.publish(this.channel(process), message);
  }

  /** Whether `process` listens on its channel (the resubscribe after a reconnect is done). */
  async listening(process: string): Promise<boolean> {
    const counts = await this.redis.pubSubNumSub([this.channel(process)]);
    return (counts[this.channel(process)] ?? 0) > 0;
  }

  channel(process: string): string {
    return `${this.prefix}proc:${process}`;
  }

  private get since(): string {
    return this.prefix + 'since';
  }

  private tabKey(id: string): string {
    return `${this.prefix}tab:${id}`;
  }
}

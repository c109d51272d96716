/**
 * RedisBackend's presence store: the Lua scripts and the class that runs them with the right
 * keys and checks what they answer. Each backend call is one script, so it is atomic in Redis and
 * its commands reach Redis in the order the calls were made (one connection, one command per
 * call). Presence keys are read by name inside the scripts (`prefix .. id`), which is fine on
 * one Redis (or a primary with replicas) and not meant for Redis Cluster.
 *
 * Layout, under the backend's prefix (default `peerchat:`):
 *   tab:<id>     "<process>/<token>": who holds the id, expiring unless refreshed (heartbeat)
 *   handed       sorted set of ids: score in [0, 1) = never handed out (a random place taken at
 *                registration: ties broken at random), else the hand-out sequence number
 *   seq          the hand-out sequence
 *   proc:<proc>  the pub/sub channel of one process: relays, their results, replaced notices
 */

/** KEYS: tab key, handed. ARGV: value, ttl ms, id, score, channel prefix. */
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

/** KEYS: tab key, handed. ARGV: value, id. Only the holder's own registration is removed. */
export const UNREGISTER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return 0`;

/**
 * Heartbeat and recovery: puts back (or refreshes) each registration that is missing or still
 * this process's; returns the ids another process has taken meanwhile.
 * KEYS: handed, then one tab key per entry. ARGV: ttl ms, then id, value, score per entry.
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
 * Up to n ids, lowest score first, skipping the asker; members whose presence expired (their
 * process died) are dropped on the way. The picked get the next sequence numbers.
 * KEYS: handed, seq. ARGV: tab key prefix, asker, n, most members to scan.
 */
export const PICK = `
local n, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local picked, stale = {}, {}
local start, scanned = 0, 0
while #picked < n and scanned < limit do
  local ids = redis.call('ZRANGE', KEYS[1], start, start + n)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    scanned = scanned + 1
    if id ~= ARGV[2] and #picked < n then
      if redis.call('EXISTS', ARGV[1] .. id) == 1 then table.insert(picked, id) else table.insert(stale, id) end
    end
  end
  start = start + #ids
end
for _, id in ipairs(stale) do redis.call('ZREM', KEYS[1], id) end
for _, id in ipairs(picked) do redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), id) end
return picked`;

/**
 * Where a relay goes: {0} nobody holds the id; {1, owner} this process does; {2, owner} the
 * message was published to the owner's channel. An owner whose channel has no subscriber is
 * dead (or cut off: it puts itself back on recovery), so its registration is dropped.
 * KEYS: tab key, handed. ARGV: this process, channel prefix, message, id.
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
}

/** The command connection, as far as the store uses it. */
export interface ScriptRunner {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
  pubSubNumSub(channels: string[]): Promise<Record<string, number>>;
}

/** PICK scans at most this many members past stale ones per call. */
const PICK_SCAN_LIMIT = 1_000;

/** The scripts with their keys; every answer is checked before it is returned. */
export class RedisPresence {
  constructor(
    private readonly redis: ScriptRunner,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  /** `score` in [0, 1): the place among the never handed out. */
  async register(id: string, value: string, score: string): Promise<void> {
    await this.redis.eval(REGISTER, { keys: [this.tabKey(id), this.handed], arguments: [value, String(this.ttlMs), id, score, this.channel('')] });
  }

  async unregister(id: string, value: string): Promise<void> {
    await this.redis.eval(UNREGISTER, { keys: [this.tabKey(id), this.handed], arguments: [value, id] });
  }

  /** Refreshes or puts back each entry still this process's; returns the ids taken elsewhere. */
  async assert(entries: Presence[], score: () => string): Promise<string[]> {
    const keys = [this.handed, ...entries.map((e) => this.tabKey(e.id))];
    const args = [String(this.ttlMs), ...entries.flatMap((e) => [e.id, e.value, score()])];
    return lostIds(await this.redis.eval(ASSERT, { keys, arguments: args }), new Set(entries.map((e) => e.id)));
  }

  async pick(askerId: string, n: number): Promise<string[]> {
    const reply = await this.redis.eval(PICK, { keys: [this.handed, this.prefix + 'seq'], arguments: [this.tabKey(''), askerId, String(n), String(PICK_SCAN_LIMIT)] });
    return pickedIds(reply, askerId, n);
  }

  /** Where the tab `to` is; publishes `message` to its process when that is another one. */
  async route(to: string, process: string, message: string): Promise<RelayRoute> {
    return relayRoute(await this.redis.eval(RELAY, { keys: [this.tabKey(to), this.handed], arguments: [process, this.channel(''), message, to] }));
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

  private get handed(): string {
    return this.prefix + 'handed';
  }

  private tabKey(id: string): string {
    return `${this.prefix}tab:${id}`;
  }
}

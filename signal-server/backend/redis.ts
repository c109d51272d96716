/**
 * The networked backend: every signal-server process on one Redis. Presence is a key per tab
 * with an expiry its process refreshes (a process that dies is forgotten within the expiry),
 * first peers are drawn from one sorted set of registration times across all processes, and a relay for a tab on another
 * process goes over that process's pub/sub channel and is answered with the tab's result. The
 * Lua scripts, the layout and the checks on what they answer are in redis-scripts.ts, the
 * messages between processes in redis-bus.ts.
 *
 * Redis going away does not stop the process: it serves its own tabs alone (a MemoryBackend
 * inside always holds them), says `degraded` in state(), logs it once, and when Redis is back
 * puts its tabs back and logs that once.
 *
 *   const backend = await RedisBackend.connect({ url: 'redis://127.0.0.1:6379', random: cryptoRandom });
 */
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { ErrorCode, PeerchatError } from '../../shared/lib/errors.ts';
import type { Random } from '../../shared/lib/random.ts';
import { SETTLED_TAB_MS } from '../limits.ts';
import type { BackendState, DeliverResult, LocalTab, SettleOptions, SignalBackend } from './backend.ts';
import { MemoryBackend } from './memory.ts';
import { encodeRelay, encodeResult, parseBusMessage, RelayWaits, type BusMessage } from './redis-bus.ts';
import { RedisPresence } from './redis-scripts.ts';

export interface RedisTimings {
  /** A tab's presence outlives its last refresh by this much (its process may have died). */
  presenceTtlMs: number;
  /** How often a process refreshes its tabs' presence. */
  heartbeatMs: number;
  /** A relay to another process not answered within this is 'not-found'. */
  relayTimeoutMs: number;
  /** A Redis command not answered within this counts as Redis gone. */
  commandTimeoutMs: number;
  /** How long connect() waits for Redis before starting degraded. */
  connectWaitMs: number;
}

export const DEFAULT_REDIS_TIMINGS: RedisTimings = {
  presenceTtlMs: 60_000,
  heartbeatMs: 20_000,
  relayTimeoutMs: 2_000,
  commandTimeoutMs: 2_000,
  connectWaitMs: 3_000,
};

export interface RedisBackendOptions extends SettleOptions {
  url: string;
  /** Draws the first peers (a seed per pick, handed to the script). */
  random: Random;
  /** Key and channel prefix; processes that share one must share this. Default `peerchat:`. */
  prefix?: string;
  /** Where the once-per-change lines about Redis go; default console.log. */
  log?: (line: string) => void;
  timings?: Partial<RedisTimings>;
}

/** One tab of this process as Redis knows it: `value` is "<process>/<token>". */
interface Registration {
  tab: LocalTab;
  value: string;
  /** When it registered (ms): put back with this time after Redis lost it. */
  since: number;
}

/** Tabs per ASSERT script, so one heartbeat never holds Redis for long. */
const ASSERT_CHUNK = 500;
/** Unregisters made while degraded, replayed on recovery; beyond this they expire instead. */
const MAX_PENDING_UNREGISTERS = 10_000;
/** After a reconnect, how long recovery waits for this process's channel to be resubscribed. */
const RESUBSCRIBE_WAIT_MS = 2_000;
const CLOSED = 'The signal backend is closed; create a new server.';
const CANNOT_SAY = 'Redis is unreachable: whether a tab on another process has that id is unknown; ask again later.';

/** The command connection and the subscriber, reconnecting on their own. */
function makeClients(url: string, connectTimeout: number) {
  const reconnectStrategy = (retries: number) => Math.min(50 * 2 ** Math.min(retries, 6), 2_000);
  // No offline queue: while Redis is away a command fails at once and the call goes local.
  const cmd = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy, connectTimeout } });
  // The subscriber queues its SUBSCRIBE until connected, and resubscribes after reconnects.
  const sub = cmd.duplicate({ disableOfflineQueue: false });
  return { cmd, sub };
}
type Clients = ReturnType<typeof makeClients>;

export class RedisBackend implements SignalBackend {
  /** This process's name in Redis: its registrations and its channel. */
  readonly process: string;
  private readonly local: MemoryBackend;
  private readonly regs = new Map<string, Registration>();
  private readonly waits = new RelayWaits();
  private pendingUnregisters: Registration[] = [];
  private readonly timings: RedisTimings;
  private readonly where: string;
  private readonly log: (line: string) => void;
  private readonly cmd: Clients['cmd'];
  private readonly sub: Clients['sub'];
  private readonly store: RedisPresence;
  private readonly heartbeat: ReturnType<typeof setInterval>;
  private readonly random: Random;
  private readonly now: () => number;
  private readonly settledMs: number;
  private wakeFirstReady: (() => void) | null = null;
  private current: BackendState = 'degraded';
  /** Said "unreachable" since the last "back", so each change is logged once. */
  private saidDown = false;
  private recovering: Promise<void> | null = null;
  private tokenSeq = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  /** Connects and waits up to `connectWaitMs` for Redis; without it, starts degraded. */
  static async connect(options: RedisBackendOptions): Promise<RedisBackend> {
    const backend = new RedisBackend(options);
    await backend.firstReady();
    return backend;
  }

  private constructor(options: RedisBackendOptions) {
    this.timings = { ...DEFAULT_REDIS_TIMINGS, ...options.timings };
    this.log = options.log ?? ((line) => console.log(line));
    this.now = options.now ?? Date.now;
    this.settledMs = options.settledMs ?? SETTLED_TAB_MS;
    this.local = new MemoryBackend(options.random, { now: this.now, settledMs: this.settledMs });
    this.random = options.random;
    // Not from `random`: two processes seeded alike (tests) must still have their own channels.
    this.process = randomBytes(8).toString('hex');
    const url = new URL(options.url);
    this.where = `${url.protocol}//${url.host}`; // never the password
    const { cmd, sub } = makeClients(options.url, this.timings.commandTimeoutMs);
    this.cmd = cmd;
    this.sub = sub;
    const runner = {
      eval: (script: string, o: { keys: string[]; arguments: string[] }) => cmd.eval(script, o),
      publish: (channel: string, message: string) => cmd.publish(channel, message),
      pubSubNumSub: (channels: string[]) => cmd.pubSubNumSub(channels) as Promise<Record<string, number>>,
    };
    this.store = new RedisPresence(runner, options.prefix ?? 'peerchat:', this.timings.presenceTtlMs);
    for (const client of [this.cmd, this.sub]) {
      client.on('error', () => this.down());
      client.on('ready', () => this.up());
    }
    void this.sub.subscribe(this.store.channel(this.process), (message) => this.onBus(message)).catch(() => {});
    void this.cmd.connect().catch(() => {});
    void this.sub.connect().catch(() => {});
    this.heartbeat = setInterval(() => void this.refresh(), this.timings.heartbeatMs);
    this.heartbeat.unref();
  }

  /** 'ok' while Redis answers, 'degraded' while this process serves only its own tabs. */
  state(): BackendState {
    return this.current;
  }

  register(tab: LocalTab): Promise<void> {
    return this.ordered(async () => {
      const reg = { tab, value: `${this.process}/${++this.tokenSeq}`, since: this.now() };
      this.regs.set(tab.id, reg);
      await this.local.register(tab); // tells an older tab of this process it was replaced
      await this.viaRedis(() => this.store.register(tab.id, reg.value, reg.since), async () => {});
    });
  }

  unregister(tab: LocalTab): Promise<void> {
    return this.ordered(async () => {
      await this.local.unregister(tab);
      const reg = this.regs.get(tab.id);
      if (reg?.tab !== tab) return; // replaced: the id is someone else's now
      this.regs.delete(tab.id);
      await this.viaRedis(
        () => this.store.unregister(tab.id, reg.value),
        async () => {
          if (this.pendingUnregisters.length < MAX_PENDING_UNREGISTERS) this.pendingUnregisters.push(reg);
        },
      );
    });
  }

  pickPeers(askerId: string, n: number): Promise<string[]> {
    return this.ordered(() =>
      this.viaRedis(
        () => this.store.pick(askerId, n, this.now() - this.settledMs, this.random),
        () => this.local.pickPeers(askerId, n),
      ),
    );
  }

  live(): Promise<number> {
    return this.ordered(() =>
      this.viaRedis(
        () => this.store.count(),
        () => this.local.live(),
      ),
    );
  }

  /**
   * A tab of this process is connected whatever Redis says, and while it is away; any other id
   * is looked up in Redis, and without Redis this cannot say and rejects (backend.ts isTab).
   */
  isTab(id: string): Promise<boolean> {
    return this.ordered(async () => {
      if (await this.local.isTab(id)) return true;
      return this.viaRedis(
        () => this.store.isTab(id),
        () => Promise.reject(new PeerchatError(ErrorCode.Busy, CANNOT_SAY)),
      );
    });
  }

  relay(to: string, frame: string): Promise<DeliverResult> {
    return this.ordered(() => this.viaRedis(() => this.relayAnywhere(to, frame), () => this.local.relay(to, frame)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    await this.tail.catch(() => {}); // calls made before close finish (the last unregisters)
    this.waits.settleAll();
    this.regs.clear();
    await this.local.close();
    for (const client of [this.cmd, this.sub]) {
      client.removeAllListeners('ready');
      client.on('error', () => {}); // a late socket error must not crash the process
      client.destroy();
    }
  }

  /** Starts every call at once and answers them in call order (the contract asks for order). */
  private ordered<T>(run: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new PeerchatError(ErrorCode.Closed, CLOSED));
    const result = run();
    const answered = this.tail.then(() => result);
    this.tail = answered.catch(() => {});
    return answered;
  }

  /** Through Redis while it is up; locally while it is not, or when this command finds it gone. */
  private async viaRedis<T>(remote: () => Promise<T>, local: () => Promise<T>): Promise<T> {
    if (this.current === 'ok') {
      try {
        return await this.timed(remote());
      } catch {
        if (this.closed) throw new PeerchatError(ErrorCode.Closed, CLOSED);
        this.down(true);
      }
    }
    return local();
  }

  private async relayAnywhere(to: string, frame: string): Promise<DeliverResult> {
    // Opened before the script runs: the result can arrive before the script's own reply.
    const { rid, result } = this.waits.open(this.timings.relayTimeoutMs);
    let route;
    try {
      route = await this.store.route(to, this.process, encodeRelay(rid, this.process, to, frame));
    } catch (err) {
      this.waits.settle(rid, 'not-found');
      throw err;
    }
    if (route.to === 'there') return result;
    this.waits.settle(rid, 'not-found');
    if (route.to === 'nobody') return 'not-found';
    const reg = this.regs.get(to);
    return reg && reg.value === route.owner ? reg.tab.deliver(frame) : 'not-found';
  }

  /** A message on this process's channel; malformed ones are dropped. */
  private onBus(text: string): void {
    const message = parseBusMessage(text);
    if (message === null || this.closed) return;
    if (message.k === 'result') return this.waits.settle(message.rid, message.r);
    if (message.k === 'replaced') return this.replacedElsewhere(message.id, message.owner);
    void this.answerRelay(message);
  }

  private async answerRelay(message: Extract<BusMessage, { k: 'relay' }>): Promise<void> {
    const result = await this.local.relay(message.to, message.frame).catch((): DeliverResult => 'not-found');
    if (this.current !== 'ok') return; // the asker times out to not-found
    await this.timed(this.store.publish(message.from, encodeResult(message.rid, result))).catch(() => {});
  }

  /** Another process registered the id: the tab here hears once and is forgotten. */
  private replacedElsewhere(id: string, owner: string): void {
    const reg = this.regs.get(id);
    if (!reg || reg.value !== owner) return; // a newer registration here, or gone already
    this.regs.delete(id);
    void this.local.unregister(reg.tab).catch(() => {});
    reg.tab.replaced();
  }

  /** Refreshes (or puts back) every registration; ids another process took are replaced here. */
  private async refresh(): Promise<void> {
    if (this.closed) return;
    // Degraded by a command that timed out on open connections (a Redis that hung): try again.
    if (this.current !== 'ok') return this.up();
    try {
      await this.assertAll();
    } catch {
      this.down(true);
    }
  }

  private async assertAll(): Promise<void> {
    const all = [...this.regs.values()];
    for (let i = 0; i < all.length; i += ASSERT_CHUNK) {
      // Read at send time: a tab unregistered since is not put back.
      const chunk = all.slice(i, i + ASSERT_CHUNK).filter((reg) => this.regs.get(reg.tab.id) === reg);
      if (chunk.length === 0) continue;
      const lost = await this.timed(this.store.assert(chunk.map((reg) => ({ id: reg.tab.id, value: reg.value, since: reg.since }))));
      for (const id of lost) {
        const reg = this.regs.get(id);
        if (reg) this.replacedElsewhere(id, reg.value);
      }
    }
  }

  /** A connection dropped (or, `failed`, a command failed): serve locally until recovered. */
  private down(failed = false): void {
    if (this.closed || (!failed && this.cmd.isReady && this.sub.isReady)) return;
    this.current = 'degraded';
    this.waits.settleAll();
    if (this.saidDown) return;
    this.saidDown = true;
    this.log(`Redis unreachable at ${this.where}: relaying locally`);
  }

  /** Both connections up: put this process's tabs back, then serve through Redis again. */
  private up(): void {
    if (this.closed || this.current === 'ok' || !this.cmd.isReady || !this.sub.isReady) return;
    this.recovering ??= this.recover().finally(() => (this.recovering = null));
  }

  private async recover(): Promise<void> {
    try {
      // Until the channel is back, other processes would take this one for dead and drop the
      // registrations their relays find (redis-scripts.ts, RELAY).
      const deadline = Date.now() + RESUBSCRIBE_WAIT_MS;
      while (!(await this.timed(this.store.listening(this.process)))) {
        if (Date.now() > deadline || this.closed) return; // the heartbeat tries again
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (const reg of this.pendingUnregisters.splice(0)) await this.timed(this.store.unregister(reg.tab.id, reg.value));
      await this.assertAll();
    } catch {
      return; // down again; the next 'ready' or heartbeat retries
    }
    if (this.closed || !this.cmd.isReady || !this.sub.isReady) return;
    // Tabs registered while the assert ran went local only; the assert sent just after this
    // state change covers them, and everything from here on goes through Redis.
    this.current = 'ok';
    this.wakeFirstReady?.();
    void this.refresh();
    if (this.saidDown) this.log(`Redis at ${this.where} is back: relaying across processes again`);
    this.saidDown = false;
  }

  private async firstReady(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.wakeFirstReady = resolve;
      timer = setTimeout(resolve, this.timings.connectWaitMs);
      if (this.current === 'ok') resolve();
    });
    clearTimeout(timer);
    this.wakeFirstReady = null;
    if (this.current !== 'ok') this.down(true);
  }

  /** A command Redis does not answer in time counts as Redis gone. */
  private timed<T>(command: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('redis command timed out')), this.timings.commandTimeoutMs);
    });
    return Promise.race([command, timeout]).finally(() => clearTimeout(timer));
  }
}

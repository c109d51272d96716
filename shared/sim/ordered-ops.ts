/**
 * CryptoOps whose results resolve in the order they were asked for. WebCrypto completes on a
 * thread pool, so two signatures started in one simulated instant may finish in either order
 * in real time; resolving them first-in first-out makes a seeded simulation replay exactly.
 * `pending` and `idle()` let the simulator wait for crypto before it moves the clock.
 */
import type { CryptoOps, Identity } from '../lib/crypto.ts';

interface Entry {
  done: boolean;
  ok: boolean;
  value: unknown;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

export class OrderedOps implements CryptoOps {
  private readonly queue: Entry[] = [];
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly inner: CryptoOps) {}

  get pending(): number {
    return this.queue.length;
  }

  sign(identity: Identity, data: Uint8Array): Promise<Uint8Array> {
    return this.enqueue(this.inner.sign(identity, data));
  }

  verify(signingPublic: Uint8Array, signature: Uint8Array, data: Uint8Array): Promise<boolean> {
    return this.enqueue(this.inner.verify(signingPublic, signature, data));
  }

  /** Orders any other async work (identity creation) with the crypto, for the same reason. */
  track<T>(work: Promise<T>): Promise<T> {
    return this.enqueue(work);
  }

  /** Resolves once nothing is pending. */
  idle(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private enqueue<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Entry = { done: false, ok: true, value: undefined, resolve: resolve as (v: unknown) => void, reject };
      this.queue.push(entry);
      work.then(
        (v) => this.settle(entry, true, v),
        (e) => this.settle(entry, false, e),
      );
    });
  }

  private settle(entry: Entry, ok: boolean, value: unknown): void {
    entry.done = true;
    entry.ok = ok;
    entry.value = value;
    while (this.queue.length > 0 && this.queue[0]!.done) {
      const head = this.queue.shift()!;
      if (head.ok) head.resolve(head.value);
      else head.reject(head.value);
    }
    if (this.queue.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}

/**
 * What simple-peer's Peer takes from `readable-stream` in the app: an event emitter and the
 * Duplex calls it makes itself. The package's full stream (with its Buffer, events, util and
 * process shims) was two thirds of simple-peer's browser bundle, 20 KB of gzipped JS at start.
 *
 * The transport (webrtc-transport.ts) only listens and calls send(): each message simple-peer
 * pushes is one 'data' event at once (object mode, always flowing), push(null) ends the readable
 * side, end() emits 'finish' as readable-stream does (synchronously when nothing is queued).
 * Node keeps the real readable-stream (headless nodes, vitest); vite.config.ts swaps this in.
 */
type Listener = (...args: never[]) => void;
type Wrapped = Listener & { listener?: Listener };

export class EventEmitter {
  private readonly handlers = new Map<string | symbol, Wrapped[]>();

  on(event: string | symbol, listener: Listener): this {
    const list = this.handlers.get(event);
    if (list) list.push(listener);
    else this.handlers.set(event, [listener]);
    return this;
  }

  addListener(event: string | symbol, listener: Listener): this {
    return this.on(event, listener);
  }

  once(event: string | symbol, listener: Listener): this {
    const wrapper: Wrapped = (...args) => {
      this.removeListener(event, wrapper);
      listener.apply(this, args);
    };
    wrapper.listener = listener;
    return this.on(event, wrapper);
  }

  removeListener(event: string | symbol, listener: Listener): this {
    const list = this.handlers.get(event);
    const i = list ? list.findIndex((l) => l === listener || l.listener === listener) : -1;
    if (list && i >= 0) list.splice(i, 1);
    return this;
  }

  off(event: string | symbol, listener: Listener): this {
    return this.removeListener(event, listener);
  }

  removeAllListeners(event?: string | symbol): this {
    if (event === undefined) this.handlers.clear();
    else this.handlers.delete(event);
    return this;
  }

  listenerCount(event: string | symbol): number {
    return this.handlers.get(event)?.length ?? 0;
  }

  /** As Node's: an 'error' nobody listens for is thrown. */
  emit(event: string | symbol, ...args: unknown[]): boolean {
    const list = this.handlers.get(event);
    if (!list || list.length === 0) {
      if (event === 'error') throw args[0] instanceof Error ? args[0] : new Error(`Unhandled error: ${String(args[0])}`);
      return false;
    }
    for (const listener of [...list]) (listener as (...a: unknown[]) => void).apply(this, args);
    return true;
  }
}

export class Duplex extends EventEmitter {
  readable = true;
  writable = true;
  readonly _readableState = { ended: false };
  readonly _writableState = { finished: false };

  constructor(_options?: object) {
    super();
  }

  /** simple-peer's own: write() hands it each chunk. */
  _write(_chunk: unknown, _encoding: string, callback: (err?: Error | null) => void): void {
    callback(new Error('_write is not implemented'));
  }

  push(chunk: unknown): boolean {
    if (this._readableState.ended) return false;
    if (chunk === null) {
      this._readableState.ended = true;
      queueMicrotask(() => this.emit('end'));
      return false;
    }
    this.emit('data', chunk);
    return true;
  }

  /** As Node's: write(chunk, [encoding], [callback]). */
  write(chunk: unknown, encoding?: string | ((err?: Error | null) => void), callback?: (err?: Error | null) => void): boolean {
    if (typeof encoding === 'function') callback = encoding;
    if (this._writableState.finished) return false;
    this._write(chunk, typeof encoding === 'string' ? encoding : '', (err) => {
      if (err) this.emit('error', err);
      callback?.(err);
    });
    return true;
  }

  end(): this {
    if (this._writableState.finished) return this;
    this._writableState.finished = true;
    this.emit('finish');
    return this;
  }
}

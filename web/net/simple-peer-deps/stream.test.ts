import { describe, expect, it } from 'vitest';
import { Duplex, EventEmitter } from './stream.ts';

describe('the stream stand-in simple-peer runs on in browsers', () => {
  it('calls a once listener one time, and removeListener takes it away by its original function', () => {
    const events = new EventEmitter();
    const seen: number[] = [];
    const listener = (n: number) => seen.push(n);
    events.once('x', listener);
    events.emit('x', 1);
    events.emit('x', 2);
    events.once('y', listener);
    events.removeListener('y', listener);
    expect(events.emit('y', 3)).toBe(false);
    expect(seen).toEqual([1]);
  });

  it('throws an error event nobody listens for, as Node does', () => {
    expect(() => new EventEmitter().emit('error', new Error('boom'))).toThrow('boom');
  });

  it('emits each pushed chunk as data at once, and nothing after push(null)', async () => {
    const stream = new Duplex();
    const data: unknown[] = [];
    let ended = false;
    stream.on('data', (chunk: unknown) => data.push(chunk));
    stream.on('end', () => (ended = true));
    stream.push('a');
    expect(data).toEqual(['a']);
    stream.push(null);
    stream.push('b');
    await Promise.resolve();
    expect({ data, ended, state: stream._readableState.ended }).toEqual({ data: ['a'], ended: true, state: true });
  });

  it('hands writes to _write with or without an encoding, and emits finish once on end', () => {
    const written: unknown[] = [];
    const stream = new (class extends Duplex {
      override _write(chunk: unknown, _encoding: string, callback: (err?: Error | null) => void): void {
        written.push(chunk);
        callback(null);
      }
    })();
    let finished = 0;
    let called = 0;
    stream.on('finish', () => finished++);
    stream.write('x', () => called++);
    stream.write('y', 'utf8', () => called++);
    stream.end();
    stream.end();
    expect({ written, called, finished, more: stream.write('z') }).toEqual({ written: ['x', 'y'], called: 2, finished: 1, more: false });
  });
});

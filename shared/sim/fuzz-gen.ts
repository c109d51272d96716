/**
 * Hostile frames for the fuzzers (sim/fuzz.ts for the DHT, signal-server/fuzz.ts for the signal
 * server): structure-aware ones, derived from a valid example with fast-check (the right shape
 * with wrong types, huge, negative or fractional numbers, long and unicode strings, ids of the
 * wrong length, base64 garbage, deep nesting, missing and extra keys), and byte and field
 * mutations of valid frames (flips, inserts, deletes, truncation, values swapped in from other
 * methods' frames). Everything is seeded, so a run replays exactly.
 */
import fc from 'fast-check';
import { SeededRandom } from '../lib/random.ts';

/** Numbers schemas get wrong: bounds of U32 and safe integers, fractions, negative zero. */
const ODD_NUMBERS = [0, -0, -1, 1, 0.5, -0.5, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53, -(2 ** 53), 2 ** 53 + 2, 1e21, 1e308, -1e308, 5e-324];
/** Text JSON.stringify never writes: non-finite numbers, hex, leading zeros, lone surrogates. */
const RAW_TOKENS = ['NaN', 'Infinity', '-Infinity', '1e999', '-1e999', '-0', '1e-999', '0x10', '01', 'undefined', "'x'", '"\\ud800"', '"\\u0000"', '"\\uffff"', '[', '{', '', '9'.repeat(400)];
const B64_CHARS = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/='];
const HEX_CHARS = [...'0123456789abcdefABCDEFgx'];
const ODD_CHARS = ['\u0000', '\u001f', '"', '\\', '\u2028', '\ud800', '\udfff', '\u{1f600}', '\u00e9', 'ß', '\ufeff', '\u202e', ' ', '\n'];

function nest(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
  return value;
}

/** A value of the wrong kind for wherever it lands. */
export function hostileValue(): fc.Arbitrary<unknown> {
  const unicode = fc.string({ unit: fc.oneof(fc.constantFrom(...ODD_CHARS), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength: 24 });
  return fc.oneof(
    fc.constantFrom<unknown>(null, true, false, '', [], {}, '0', 'null', 'true'),
    fc.constantFrom(...ODD_NUMBERS),
    fc.double(),
    fc.integer(),
    unicode,
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: fc.constantFrom(...HEX_CHARS), maxLength: 82 }),
    fc.string({ unit: fc.constantFrom(...B64_CHARS), maxLength: 130 }),
    fc.integer({ min: 1_000, max: 80_000 }).map((n) => 'a'.repeat(n)),
    fc.integer({ min: 2, max: 3_000 }).map((n) => nest(n, 1)),
    fc.jsonValue({ maxDepth: 3 }),
  );
}

/** A string of the same kind as `s` but not quite it: another length, another alphabet, a stray character. */
function nearString(s: string): fc.Arbitrary<string> {
  const alphabet = /^[0-9a-f]*$/.test(s) ? HEX_CHARS.slice(0, 16) : B64_CHARS.slice(0, 64);
  const same = fc.string({ unit: fc.constantFrom(...alphabet), minLength: s.length, maxLength: s.length });
  return fc.oneof(
    { weight: 3, arbitrary: same }, // often still valid: another id, another key of the right length
    { weight: 1, arbitrary: fc.integer({ min: -2, max: 2 }).map((d) => (d < 0 ? s.slice(0, s.length + d) : s + 'a'.repeat(d))) },
    { weight: 1, arbitrary: fc.constant(s.toUpperCase()) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.nat(), fc.constantFrom(...ODD_CHARS, ...B64_CHARS.slice(-3))).map(([at, ch]) => {
        const i = s.length === 0 ? 0 : at % s.length;
        return s.slice(0, i) + ch + s.slice(i + 1);
      }),
    },
    { weight: 1, arbitrary: fc.constant(s + '=') },
    { weight: 1, arbitrary: fc.integer({ min: 2, max: 400 }).map((n) => s.repeat(n)) },
  );
}

function nearNumber(n: number): fc.Arbitrary<number> {
  return fc.oneof(
    fc.constantFrom(n + 1, n - 1, -n, n * 2, n + 0.5, n * 1000, n - 2 ** 32, Math.floor(n / 2)),
    fc.constantFrom(...ODD_NUMBERS),
    fc.integer({ min: -10, max: 100 }),
  );
}

function near(example: unknown): fc.Arbitrary<unknown> {
  if (typeof example === 'string') return nearString(example);
  if (typeof example === 'number') return nearNumber(example);
  if (typeof example === 'boolean') return fc.constantFrom<unknown>(!example, 0, 1, 'true', null);
  return fc.constantFrom<unknown>({}, '', 0, [], false);
}

const MISSING = Symbol('missing');

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Values shaped like `example`: mostly its own fields, each kept, bent a little, swapped for a
 * hostile value or left out, and now and then a key it does not have. Arrays grow, shrink or
 * overflow with copies of their first item.
 */
export function shaped(example: unknown): fc.Arbitrary<unknown> {
  const hostile = hostileValue();
  if (Array.isArray(example)) {
    const item = example.length > 0 ? shaped(example[0]) : hostile;
    return fc.oneof(
      { weight: 2, arbitrary: fc.constant(example) },
      { weight: 4, arbitrary: fc.array(item, { maxLength: 4 }) },
      { weight: 1, arbitrary: fc.integer({ min: 30, max: 600 }).map((n) => Array.from({ length: n }, () => example[0] ?? 0)) },
      { weight: 1, arbitrary: hostile },
    );
  }
  if (isObject(example)) {
    const fields = Object.entries(example).map(([key, value]) =>
      fc.oneof(
        { weight: 16, arbitrary: fc.constant(value) },
        { weight: 4, arbitrary: shaped(value) },
        { weight: 1, arbitrary: fc.constant<unknown>(MISSING) },
      ).map((v) => [key, v] as const),
    );
    const extra = fc.option(fc.tuple(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 't', 'id', 'b', 'r', 'x')), hostile), { freq: 10 });
    const object = fc.tuple(fc.tuple(...fields), extra).map(([entries, more]) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of entries) if (v !== MISSING) out[k] = v;
      if (more) Object.defineProperty(out, more[0], { value: more[1], enumerable: true, writable: true, configurable: true });
      return out;
    });
    return fc.oneof({ weight: 1, arbitrary: fc.constant(example) }, { weight: 8, arbitrary: object }, { weight: 1, arbitrary: hostile });
  }
  return fc.oneof({ weight: 3, arbitrary: near(example) }, { weight: 2, arbitrary: hostile }, { weight: 1, arbitrary: fc.constant(example) });
}

/** Text around a value: mostly its JSON, sometimes with a token JSON.stringify never writes, a duplicate key or junk. */
export function asText(value: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc.tuple(value, fc.nat(), fc.constantFrom(...RAW_TOKENS), fc.nat(19)).map(([v, at, token, how]) => {
    const text = JSON.stringify(v) ?? 'undefined';
    if (how === 0) {
      // A number's or a string's place taken by a raw token.
      const spots = [...text.matchAll(/:(-?\d[\d.eE+-]*|"[^"\\]*")/g)];
      const m = spots[at % Math.max(1, spots.length)];
      return m ? text.slice(0, m.index + 1) + token + text.slice(m.index + m[0].length) : text + token;
    }
    if (how === 1 && text.startsWith('{') && text.length > 2) {
      // A duplicate key: JSON.parse keeps the last, a careless reader the first.
      const keys = [...text.matchAll(/"([A-Za-z_]+)":/g)];
      const k = keys[at % Math.max(1, keys.length)]?.[1] ?? 't';
      return `{"${k}":${token || 'null'},${text.slice(1)}`;
    }
    if (how === 2) return ['\ufeff', ' ', '\n', '[', ''][at % 5] + text + ['', ' ', ']', '}', '\u0000'][at % 5];
    return text;
  });
}

/** Frames nothing was derived from: any string, any JSON, binary, absurd sizes and nesting. */
export function randomText(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.json({ maxDepth: 4 }),
    asText(fc.dictionary(fc.constantFrom('t', 'type', 'id', 'm', 'b', 'r', 'k', 'key', 'sig', 'code', 'msg'), hostileValue(), { maxKeys: 6 })),
    fc.integer({ min: 1, max: 120_000 }).map((n) => '['.repeat(n)),
    fc.integer({ min: 60_000, max: 200_000 }).map((n) => `{"t":"req","id":1,"m":"PING","b":{},"x":"${'x'.repeat(n)}"}`),
  );
}

/** `count` samples of `arb`, drawn in chunks so a large count never sits in memory at once. */
export function* sampleChunks<T>(arb: fc.Arbitrary<T>, count: number, seed: number, chunk = 1_000): Generator<T[]> {
  for (let done = 0, i = 0; done < count; done += chunk, i++) {
    yield fc.sample(arb, { numRuns: Math.min(chunk, count - done), seed: (seed * 7919 + i) | 0 });
  }
}

// ---- Mutations of valid frames ---------------------------------------------------------------

const INSERTS = ['{', '}', '[', ']', '"', ':', ',', '\\', '0', '-', 'e', ' ', '\u0000', '\ud800', '\u00ff', 'null', '1e999', '"a"'];

type Path = (string | number)[];

function paths(value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (isObject(value)) for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}

function getAt(value: unknown, path: Path): unknown {
  let v = value;
  for (const p of path) v = typeof v === 'object' && v !== null ? (v as Record<string | number, unknown>)[p] : undefined;
  return v;
}

function setAt(root: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const parent = getAt(root, path.slice(0, -1));
  if (typeof parent === 'object' && parent !== null) (parent as Record<string | number, unknown>)[path[path.length - 1]!] = value;
  return root;
}

/**
 * One mutation of a valid frame's text, drawing on `donors` (valid frames of other methods and
 * types) for values to swap in. Byte edits (1 to 4 flips, inserts, deletes), truncation, a
 * duplicated or cut slice, or a JSON value replaced by a donor's value at any depth.
 */
export function mutate(random: SeededRandom, text: string, donors: readonly string[]): string {
  const op = random.int(10);
  if (op <= 3) {
    let out = text;
    const edits = 1 + random.int(4);
    for (let i = 0; i < edits; i++) {
      const at = random.int(out.length + 1);
      const kind = random.int(4);
      if (kind === 0) out = out.slice(0, at) + out.slice(at + 1);
      else if (kind === 1) out = out.slice(0, at) + INSERTS[random.int(INSERTS.length)] + out.slice(at);
      else if (kind === 2) out = out.slice(0, at) + String.fromCharCode(random.int(128)) + out.slice(at + 1);
      else out = out.slice(0, at) + String.fromCharCode((out.charCodeAt(at) || 0) ^ (1 << random.int(7))) + out.slice(at + 1);
    }
    return out;
  }
  if (op === 4) return text.slice(0, random.int(text.length));
  if (op === 5) {
    const a = random.int(text.length);
    const b = a + random.int(text.length - a + 1);
    return random.int(2) ? text.slice(0, b) + text.slice(a) : text.slice(0, a) + text.slice(b);
  }
  // Swap a value for a donor's: another method's body, another frame's id or route, a key of the wrong kind.
  const root: unknown = JSON.parse(text);
  const donor: unknown = JSON.parse(donors[random.int(donors.length)]!);
  const targets = paths(root);
  const sources = paths(donor);
  const swaps = 1 + random.int(op === 9 ? 3 : 1);
  let out = root;
  for (let i = 0; i < swaps; i++) {
    const target = targets[random.int(targets.length)]!;
    out = setAt(out, target, structuredClone(getAt(donor, sources[random.int(sources.length)]!)));
  }
  return JSON.stringify(out);
}

// ---- Exceptions ------------------------------------------------------------------------------

/**
 * Counts exceptions by the kind of frame being fed when they happened: those the fuzzer caught
 * around delivery, and the process's uncaught exceptions and unhandled rejections.
 */
export class ExceptionTrap {
  readonly byKind = new Map<string, number>();
  readonly samples: string[] = [];
  kind = 'setup';
  private readonly onError = (err: unknown) => this.record(err);

  install(): void {
    process.on('uncaughtException', this.onError);
    process.on('unhandledRejection', this.onError);
  }

  uninstall(): void {
    process.off('uncaughtException', this.onError);
    process.off('unhandledRejection', this.onError);
  }

  record(err: unknown, frame?: string): void {
    this.byKind.set(this.kind, (this.byKind.get(this.kind) ?? 0) + 1);
    if (this.samples.length < 10) {
      const what = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
      this.samples.push(`[${this.kind}] ${what.slice(0, 2_000)}${frame === undefined ? '' : `\nframe: ${JSON.stringify(frame.slice(0, 2_000))}`}`);
    }
  }

  get total(): number {
    let n = 0;
    for (const v of this.byKind.values()) n += v;
    return n;
  }
}

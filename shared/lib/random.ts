/**
 * Randomness, handed in. The engine draws from a `Random` it was given, so a simulation with the
 * same seed replays exactly; browsers get `cryptoRandom`.
 */
export interface Random {
  /** Uniform float in [0, 1). */
  float(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  bytes(n: number): Uint8Array;
}

/** xoshiro128** seeded through splitmix32: fast, small state, good enough for simulation. */
export class SeededRandom implements Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `high` adds 32 more bits of seed: fork() uses it, so that forks do not repeat. */
  constructor(seed: number, high = 0) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next() ^ (high >>> 0);
    this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.d = 1; // xoshiro's one forbidden state
  }

  /** Next 32 random bits as an unsigned integer. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  float(): number {
    return this.u32() / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      let v = this.u32();
      for (let j = i; j < Math.min(n, i + 4); j++, v >>>= 8) out[j] = v & 0xff;
    }
    return out;
  }

  /**
   * A new independent generator derived from this one (one per simulated node, one per new
   * identity). 64 bits of seed: with 32, two of a 10,000-node churn run's ~60,000 forks had
   * the same seed about one run in fifteen, and so the same identity.
   */
  fork(): SeededRandom {
    return new SeededRandom(this.u32(), this.u32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export const cryptoRandom: Random = {
  float: () => crypto.getRandomValues(new Uint32Array(1))[0]! / 4294967296,
  int(n) {
    return Math.floor(this.float() * n);
  },
  bytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
};

/** Fisher-Yates shuffle in place, drawing from `random`. */
export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

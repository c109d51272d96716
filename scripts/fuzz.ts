/**
 * `npm run fuzz -- --frames 100000 --seed 1` (issue 14): random and mutated frames through the
 * DHT's parser and a live node's handlers (shared/sim/fuzz.ts), per method and frame type, and
 * through the signal server's parser and a real Hub (signal-server/fuzz.ts), per message type.
 * Prints one JSON object: frames, exceptions (must be 0), drop reasons and wall time per kind,
 * and the checks made afterwards. Exits 1 on any exception or failed check.
 * `--only dht` or `--only signal` runs one half.
 */
import { parseArgs } from 'node:util';
import { machineInfo } from '../bench/machine.ts';
import { runDhtFuzz } from '../shared/sim/fuzz.ts';
import { runSignalFuzz } from '../signal-server/fuzz.ts';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '1' },
    only: { type: 'string' },
  },
});
const frames = Number(values.frames);
const seed = Number(values.seed);
if (!Number.isSafeInteger(frames) || frames < 1 || !Number.isSafeInteger(seed)) {
  console.error('--frames must be a positive integer and --seed an integer');
  process.exit(2);
}
if (values.only !== undefined && values.only !== 'dht' && values.only !== 'signal') {
  console.error(`--only takes dht or signal, got ${values.only}`);
  process.exit(2);
}

const started = performance.now();
const dht = values.only === 'signal' ? null : await runDhtFuzz({ frames, seed });
const signal = values.only === 'dht' ? null : await runSignalFuzz({ frames, seed });
const exceptions = (dht?.exceptions ?? 0) + (signal?.exceptions ?? 0);
const checks = { ...dht?.invariants, ...signal?.invariants };
const passed = exceptions === 0 && Object.values(checks).every(Boolean);
console.log(JSON.stringify({
  command: `npm run fuzz -- --frames ${frames} --seed ${seed}${values.only ? ` --only ${values.only}` : ''}`,
  passed,
  frames: (dht?.frames ?? 0) + (signal?.frames ?? 0),
  exceptions,
  checks,
  wallMs: Math.round(performance.now() - started),
  machine: machineInfo(),
  dht,
  signal,
}, null, 2));
process.exit(passed ? 0 : 1);

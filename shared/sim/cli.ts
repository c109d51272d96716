/**
 * `npm run sim -- --nodes 1000 --lookups 1000 --churn 0.3 --hours 2 --seed 1`
 * Prints one JSON object with the experiment's measurements (see experiment.ts).
 */
import { parseArgs } from 'node:util';
import { runExperiment } from './experiment.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    lookups: { type: 'string', default: '1000' },
    churn: { type: 'string', default: '0' },
    hours: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    paths: { type: 'string', default: '2' },
    latency: { type: 'string', default: '50' },
    loss: { type: 'string', default: '0' },
  },
});

const num = (name: keyof typeof values): number => {
  const n = Number(values[name]);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`--${name} must be a non-negative number, got ${values[name]}`);
    process.exit(2);
  }
  return n;
};

const result = await runExperiment({
  nodes: num('nodes'),
  lookups: num('lookups'),
  churn: num('churn'),
  hours: num('hours'),
  seed: num('seed'),
  paths: num('paths'),
  latencyMs: num('latency'),
  loss: num('loss'),
});
console.log(JSON.stringify(result, null, 2));

/**
 * `npm run sim -- --nodes 1000 --lookups 1000 --churn 0.3 --hours 2 --seed 1`
 * Prints one JSON object with the experiment's measurements (see experiment.ts).
 *
 * `npm run sim -- --chat --nodes 1000 --users 200 --churn 0.3 --scenarios 300 --spread 24
 *  --absence 72 --mass 0.5 --seed 1` runs offline delivery under churn (chat-experiment.ts),
 *  with a line of progress on stderr each minute.
 *
 * `npm run sim -- --names --nodes 100 --users 20 --churn 0.3 --days 29 --lookups 400 --seed 1`
 * resolves names whose owners left `days` ago (names-experiment.ts).
 *
 * `npm run sim -- --groups 40 --nodes 1000 --users 200 --min-size 3 --max-size 32 --texts 400
 *  --changes 40 --churn 0.3 --spread 24 --absence 72 --seed 1` runs groups under churn
 *  (group-experiment.ts), with a line of progress on stderr each minute.
 *
 * `--real-signatures` signs and verifies with Ed25519 throughout instead of the simulator's ideal
 * signatures (ideal-signatures.ts): the same result, at about a fifth more CPU.
 *
 * `npm run sim -- --adversary 0.1 --nodes 1000 --users 30 --scenarios 30 --spread 0.25
 *  --absence 0.25 --seed 1` runs users among nodes of which a fraction lies (adversary-experiment.ts);
 *  `--real-contacts` keeps made-up ids out of their lying contact lists, `--honest-find-value`
 *  has them answer FIND_VALUE as a node that dropped every STORE (to tell the attacks apart),
 *  and `--liars-accept-dials` has them answer SIGNALs addressed to themselves, so honest dials
 *  to them open (a stronger coalition: by default they drop every SIGNAL).
 */
import { parseArgs } from 'node:util';
import { runAdversaryExperiment } from './adversary-experiment.ts';
import { runChatExperiment } from './chat-experiment.ts';
import { runExperiment } from './experiment.ts';
import { runGroupExperiment } from './group-experiment.ts';
import { runNamesExperiment } from './names-experiment.ts';

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
    chat: { type: 'boolean', default: false },
    names: { type: 'boolean', default: false },
    'real-signatures': { type: 'boolean', default: false },
    days: { type: 'string', default: '29' },
    users: { type: 'string', default: '200' },
    scenarios: { type: 'string', default: '300' },
    spread: { type: 'string', default: '24' },
    absence: { type: 'string', default: '72' },
    mass: { type: 'string', default: '0.5' },
    adversary: { type: 'string' },
    groups: { type: 'string' },
    'min-size': { type: 'string', default: '3' },
    'max-size': { type: 'string', default: '32' },
    texts: { type: 'string', default: '400' },
    changes: { type: 'string', default: '40' },
    'real-contacts': { type: 'boolean', default: false },
    'honest-find-value': { type: 'boolean', default: false },
    'liars-accept-dials': { type: 'boolean', default: false },
  },
});

const num = (name: Exclude<keyof typeof values, 'chat' | 'names' | 'real-signatures' | 'real-contacts' | 'honest-find-value' | 'liars-accept-dials'>, fallback?: number): number => {
  const given = process.argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  const n = !given && fallback !== undefined ? fallback : Number(values[name]);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`--${name} must be a non-negative number, got ${values[name]}`);
    process.exit(2);
  }
  return n;
};

const realSignatures = values['real-signatures'];
const result = values.adversary !== undefined
  ? await runAdversaryExperiment({
    nodes: num('nodes'),
    adversary: num('adversary'),
    // What bench/results/adversary.json ran at N = 1,000 (about 2-4 min of CPU).
    users: num('users', 30),
    scenarios: num('scenarios', 30),
    spreadHours: num('spread', 0.25),
    maxAbsenceHours: num('absence', 0.25),
    seed: num('seed'),
    madeUpContacts: !values['real-contacts'],
    nameLies: !values['honest-find-value'],
    acceptsDials: values['liars-accept-dials'],
    realSignatures,
  })
  : values.groups !== undefined
  ? await runGroupExperiment({
    nodes: num('nodes'),
    users: num('users'),
    groups: num('groups'),
    minGroupSize: num('min-size'),
    maxGroupSize: num('max-size'),
    churn: num('churn'),
    seed: num('seed'),
    texts: num('texts'),
    changes: num('changes'),
    spreadHours: num('spread'),
    maxAbsenceHours: num('absence'),
    realSignatures,
    progress: (line) => console.error(line),
  })
  : values.names
  ? await runNamesExperiment({
    nodes: num('nodes'),
    names: num('users'),
    churn: num('churn'),
    days: num('days'),
    lookups: num('lookups'),
    seed: num('seed'),
    realSignatures,
  })
  : values.chat
  ? await runChatExperiment({
    nodes: num('nodes'),
    users: num('users'),
    churn: num('churn'),
    seed: num('seed'),
    scenarios: num('scenarios'),
    spreadHours: num('spread'),
    maxAbsenceHours: num('absence'),
    massDeparture: num('mass'),
    realSignatures,
    progress: (line) => console.error(line),
  })
  : await runExperiment({
  nodes: num('nodes'),
  lookups: num('lookups'),
  churn: num('churn'),
  hours: num('hours'),
  seed: num('seed'),
  paths: num('paths'),
  latencyMs: num('latency'),
  loss: num('loss'),
  realSignatures,
});
console.log(JSON.stringify(result, null, 2));

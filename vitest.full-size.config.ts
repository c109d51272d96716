import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

// `npm run test:full-size`: the issue-sized simulations, hours long, kept out of `npm test`.
// (mergeConfig would add to the base include list rather than replace it.)
export default defineConfig({
  test: { ...base.test, include: ['shared/sim/full-size.sim-test.ts'] },
});

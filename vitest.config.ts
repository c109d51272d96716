import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * The long simulations take minutes each and everything else seconds, so they start first
 * and the two workers finish together. Without a results cache (a clean clone, as CI has),
 * vitest starts the largest files first, and these small files would start last.
 */
const LONGEST_FIRST = [
  'shared/sim/connection-cap.test.ts',
  'shared/sim/names.test.ts',
  'shared/sim/offline-delivery.test.ts',
  'shared/sim/lookup.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = LONGEST_FIRST.findIndex((name) => f.moduleId.endsWith(name));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    // Array.prototype.sort is stable: the rest keep vitest's own order.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

// Kept apart from vite.config.ts so tests never load the Svelte or PWA plugins.
export default defineConfig({
  test: {
    include: [
      'shared/**/*.test.ts',
      'web/**/*.test.ts',
      'signal-server/**/*.test.ts',
      'bench/**/*.test.ts',
      'scripts/**/*.test.ts',
    ],
    exclude: ['e2e/**', '**/node_modules/**'],
    environment: 'node',
    // Ids cost little work in tests (shared/test-setup.ts); the simulator sets its own.
    setupFiles: ['shared/test-setup.ts'],
    // The network simulations run for tens of seconds.
    testTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker fewer than the cores, which on CI's 2 cores is one: the
    // simulations are single-threaded and deterministic (fake clock), so two run side by side.
    maxWorkers: 2,
    sequence: { sequencer: LongestFirst },
  },
});

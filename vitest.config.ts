import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The long simulations start first, so that on two cores they run beside the many short files
 * instead of after them (a clean CI checkout has no timings cached for vitest to go by).
 */
const LONGEST_FIRST = [
  'shared/sim/names.test.ts',
  'shared/sim/offline-delivery.test.ts',
  'shared/sim/connection-cap.test.ts',
  'shared/sim/lookup.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONGEST_FIRST.findIndex((p) => f.moduleId.replaceAll('\\', '/').endsWith(p));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    return sorted.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map(({ f }) => f);
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
    ],
    exclude: ['e2e/**', '**/node_modules/**'],
    environment: 'node',
    // The network simulations run for tens of seconds.
    testTimeout: 60_000,
    pool: 'forks',
    sequence: { sequencer: LongestFirst },
  },
});

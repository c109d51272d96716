import { defineConfig } from 'vitest/config';

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
  },
});

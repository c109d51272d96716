/**
 * Browser tests: real tabs (one browser context each) with real WebRTC between them, against a
 * signal server each test worker starts on a free port (e2e/fixtures.ts).
 *
 * The browser: Playwright's own Chromium when it is installed (`npx playwright install chromium`),
 * else CHROMIUM_PATH, else /usr/bin/chromium (Debian's package, what CI installs).
 */
import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumExecutable } from './e2e/chromium.ts';

export default defineConfig({
  testDir: 'e2e',
  // Each tab test opens up to ten tabs and they share two cores: one at a time. The NAT suite
  // (real namespaces, coturn, one Chromium per home, two or three tabs) mostly waits on ICE and
  // TURN, so it runs beside them in a worker of its own: about 3.5 minutes off CI's wall time.
  workers: 2,
  fullyParallel: false,
  projects: [
    { name: 'tabs', testIgnore: /nat\.spec\.ts/, workers: 1 },
    { name: 'nat', testMatch: /nat\.spec\.ts/, workers: 1 },
  ],
  timeout: 180_000,
  expect: { timeout: 30_000 },
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: process.env.CI ? [['list']] : [['list'], ['html', { open: 'never' }]],
  use: {
    headless: true,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: chromiumExecutable(),
      args: CHROMIUM_ARGS,
    },
  },
});

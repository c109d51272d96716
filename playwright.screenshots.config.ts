/**
 * `npm run screenshots`: the README's pictures of the main screens, made by a browser test
 * (e2e/screenshots/readme.shots.ts) against a fresh build, so they show the app as it is.
 */
import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumExecutable } from './e2e/chromium.ts';

export default defineConfig({
  testDir: 'e2e/screenshots',
  testMatch: /\.shots\.ts$/,
  workers: 1,
  timeout: 180_000,
  expect: { timeout: 60_000 },
  reporter: [['list']],
  use: {
    headless: true,
    launchOptions: { executablePath: chromiumExecutable(), args: CHROMIUM_ARGS },
  },
});

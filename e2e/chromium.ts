/**
 * Which Chromium the browser tests and benchmarks launch, and how: Playwright's own when it is
 * installed (`npx playwright install chromium`), else CHROMIUM_PATH, else /usr/bin/chromium
 * (Debian's package, what CI installs); with none of them, one line saying what to install.
 */
import { existsSync } from 'node:fs';
import { chromium } from '@playwright/test';

/** Undefined means Playwright's own browser. */
export function chromiumExecutable(): string | undefined {
  if (existsSync(chromium.executablePath())) return undefined;
  for (const candidate of [process.env.CHROMIUM_PATH, '/usr/bin/chromium']) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  throw new Error(
    'No Chromium for the browser tests: run `npx playwright install chromium`, or install Chromium (Debian: `apt-get install chromium`) or set CHROMIUM_PATH.',
  );
}

/** MACHINE-NOTES: what headless Chromium needs as root on a machine without internet. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

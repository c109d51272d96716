/** What every benchmark result records about the machine it ran on. */
import { cpus, platform, totalmem } from 'node:os';

export function machineInfo() {
  return {
    cpus: cpus().length,
    model: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: platform(),
    totalMemMiB: Math.round(totalmem() / 1024 / 1024),
  };
}

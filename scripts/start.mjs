/**
 * `npm start`: build the app if the build is missing or stale, then run the signal server, which
 * serves dist/ and `/signal` on one port (PORT, HOST). tsx's API loads the TypeScript entry in
 * this same process, so Ctrl+C reaches it directly.
 */
import { tsImport } from 'tsx/esm/api';
import { buildIfStale } from './build-if-stale.mjs';

await buildIfStale();
await tsImport('../signal-server/main.ts', import.meta.url);

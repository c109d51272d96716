/**
 * simple-peer as the app builds it (its source with this folder's stand-ins for Node's stream,
 * Buffer, debug and randombytes; vite.config.ts) keeps the Transport contract over real WebRTC:
 * the same suite webrtc-transport.test.ts runs against the package's Node build, here over
 * @roamhq/wrtc with esbuild doing what the Vite plugin does.
 */
import wrtc from '@roamhq/wrtc';
import { build } from 'esbuild';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { transportContract } from '../../../shared/lib/transport-contract.ts';
import { parseSignal, WebRtcTransport, type PeerConstructor } from '../webrtc-transport.ts';
import { SIMPLE_PEER_BROWSER_DEPS } from './plugin.ts';

const SIMPLE_PEER_SOURCE = /[\\/]node_modules[\\/]simple-peer[\\/]index\.js$/;
const dir = mkdtempSync(join(tmpdir(), 'simple-peer-browser-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function browserBuildOfSimplePeer(): Promise<{ Peer: PeerConstructor; text: string }> {
  const built = await build({
    entryPoints: [createRequire(import.meta.url).resolve('simple-peer')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
    plugins: [
      {
        name: 'simple-peer-browser-deps',
        setup(b) {
          b.onResolve({ filter: /^[a-z-]+$/ }, (args) => {
            const path = SIMPLE_PEER_SOURCE.test(args.importer) ? SIMPLE_PEER_BROWSER_DEPS[args.path] : undefined;
            return path ? { path } : undefined;
          });
        },
      },
    ],
  });
  const text = built.outputFiles[0]!.text;
  const file = join(dir, 'simple-peer.mjs');
  writeFileSync(file, text);
  const module = (await import(pathToFileURL(file).href)) as { default: PeerConstructor };
  return { Peer: module.default, text };
}

const { Peer, text } = await browserBuildOfSimplePeer();
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 50));
const transport = (creationCap?: number) => new WebRtcTransport({ Peer, wrtc, ...(creationCap === undefined ? {} : { creationCap }) });

describe('simple-peer built for browsers', () => {
  it('carries none of the Node stream and Buffer polyfills', () => {
    for (const polyfill of ['ReadableState', 'WritableState', 'base64-js', 'ieee754', 'string_decoder', 'process.nextTick']) {
      expect(text).not.toContain(polyfill);
    }
  });
});

transportContract(
  'WebRTC (simple-peer built for browsers + @roamhq/wrtc)',
  ({ creationCap }) => ({ a: transport(creationCap), b: transport(), settle }),
  {
    maxSettles: 200,
    signalKind: (data) => {
      const s = parseSignal(data);
      return s?.type === 'offer' || s?.type === 'answer' ? s.type : 'other';
    },
  },
);

/**
 * simple-peer for the browser: its own source, built with the few Node pieces it uses replaced
 * by small browser files (simple-peer-deps/, swapped in by vite.config.ts). A plain
 * `import 'simple-peer'` without them fails at runtime ("global is not defined", then "process
 * is not defined", MACHINE-NOTES), and the package's prebuilt bundle carries Node's stream and
 * Buffer for browsers: 30 KB of gzipped JS where this costs 5. The one place the app imports
 * simple-peer.
 */
import Peer from 'simple-peer';
import type { PeerConstructor } from './webrtc-transport.ts';

export const BrowserPeer = Peer as unknown as PeerConstructor;

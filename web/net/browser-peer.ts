/**
 * simple-peer for the browser: the package's own prebuilt bundle, which needs none of the Node
 * globals (global, process, Buffer) that `import 'simple-peer'` pulls in and Vite does not
 * provide (MACHINE-NOTES). The one place the app imports simple-peer.
 */
import Peer from 'simple-peer/simplepeer.min.js';
import type { PeerConstructor } from './webrtc-transport.ts';

export const BrowserPeer = Peer as unknown as PeerConstructor;

/**
 * simple-peer wraps a binary message in Buffer.from(arrayBuffer); a plain Uint8Array is what the
 * transport reads (it sends text, so binary frames are only ever a peer's oddity). Node's Buffer
 * polyfill was 6 KB of gzipped JS for that one call. vite.config.ts swaps this in.
 */
export const Buffer = {
  from: (data: ArrayBuffer): Uint8Array => new Uint8Array(data),
};

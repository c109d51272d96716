// simple-peer's `randombytes(n).toString('hex')` (a peer's log id and its channel's name), from
// WebCrypto, without the Buffer polyfill the randombytes package brings. vite.config.ts swaps
// this in for browsers.
module.exports = (size) => {
  const bytes = crypto.getRandomValues(new Uint8Array(size));
  return { toString: () => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('') };
};

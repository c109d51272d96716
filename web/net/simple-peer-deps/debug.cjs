// simple-peer's `require('debug')('simple-peer')`: logging off, as it is by default in the
// package, without the debug package's formatter. vite.config.ts swaps this in for browsers.
module.exports = () => () => {};

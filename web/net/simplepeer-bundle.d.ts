// The browser bundle of simple-peer exports the same class as the package's main entry.
declare module 'simple-peer/simplepeer.min.js' {
  import Peer from 'simple-peer';
  export default Peer;
}

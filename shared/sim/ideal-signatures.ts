/**
 * The simulator's signatures: the ideal signature scheme, not Ed25519 arithmetic.
 *
 * What the engine needs from a signature is a decision: `verify(key, sig, data)` is true exactly
 * when the holder of `key`'s private half signed `data`. Ed25519 gives that decision at about
 * 60 us per verify and 25 us per sign, and the simulator makes millions of them (every channel's
 * HELLO, every routed SIGNAL, every record and envelope): a quarter of a simulation's CPU went to
 * the arithmetic (profiled 2026-12-05: 1,000 nodes, 30% churn an hour). A simulation measures the
 * protocol, not the curve, so here each identity signs with HMAC-SHA-512 under a MAC key only
 * its own private key can make (the SHA-512 of its real Ed25519 signature of a fixed tag), and
 * verify recomputes the MAC from a table of the keys that signed. The decision is the same one:
 * - a node can sign only as an identity whose private key it holds, as with Ed25519;
 * - a flipped bit, other data, another key or a made-up signature does not verify;
 * - a signature the table cannot confirm (made outside this object, a forgery, a key that never
 *   signed here) goes to the real Ed25519 verify, so real signatures made elsewhere (a test's
 *   webCryptoOps, a record from disk) still verify and forgeries still fail, as before.
 * Signatures keep Ed25519's 64 bytes, so every size check and frame size is unchanged, and they
 * are deterministic, so seeded runs replay exactly. The app never imports this; the engine's
 * real signing is tested in shared/lib/crypto.test.ts, node-crypto-ops.test.ts and the browser.
 * `SimOptions.realSignatures` runs a simulation on Ed25519 throughout.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { SIGNATURE_BYTES, type CryptoOps, type Identity } from '../lib/crypto.ts';
import { toBase64Url, utf8Encode } from '../lib/encoding.ts';

const MAC_KEY_TAG = utf8Encode('peerchat-sim-ideal-signature-key-v1');

export class IdealSignatures implements CryptoOps {
  /** MAC keys by signing key (base64url): one entry per identity that signed in this run. */
  private readonly macKeys = new Map<string, Buffer>();
  private readonly byPrivate = new WeakMap<CryptoKey, Buffer>();
  /** Verifies the table confirmed, and those that went to Ed25519 (a forgery, a foreign signer). */
  confirmed = 0;
  delegated = 0;

  constructor(private readonly real: CryptoOps) {}

  async sign(identity: Identity, data: Uint8Array): Promise<Uint8Array> {
    return mac(await this.macKeyOf(identity), data);
  }

  async verify(signingPublic: Uint8Array, signature: Uint8Array, data: Uint8Array): Promise<boolean> {
    const key = this.macKeys.get(toBase64Url(signingPublic));
    if (key !== undefined && signature.length === SIGNATURE_BYTES && timingSafeEqual(mac(key, data), signature)) {
      this.confirmed++;
      return true;
    }
    this.delegated++;
    return this.real.verify(signingPublic, signature, data);
  }

  private async macKeyOf(identity: Identity): Promise<Buffer> {
    let key = this.byPrivate.get(identity.signingPrivate);
    if (key === undefined) {
      key = createHash('sha512').update(await this.real.sign(identity, MAC_KEY_TAG)).digest();
      this.byPrivate.set(identity.signingPrivate, key);
      this.macKeys.set(toBase64Url(identity.signingPublic), key);
    }
    return key;
  }
}

function mac(key: Buffer, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha512', key).update(data).digest());
}

/**
 * What runs on the testbed's "internet" (the wan namespace, testbed.ts): coturn with a secret of
 * the run's own, the signal server started as `npm start` starts it (signal-server/main.ts, its
 * settings from the environment), and a self-signed certificate for HTTPS.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WAN_IP, type Service, type Testbed } from './testbed.ts';

/**
 * The project root, where the signal server and its `tsx` are: the working directory, as for
 * every npm script. Not a path relative to this file: the path bench bundles it into
 * node_modules/.cache (scripts/run-bundled.mjs), and node_modules may be a link to another
 * checkout's, whose signal server would then run instead of this one.
 */
function projectRoot(): string {
  const root = process.cwd();
  if (!existsSync(join(root, 'signal-server', 'main.ts'))) throw new Error(`no signal-server/main.ts in ${root}: run from the project root`);
  return root;
}
export const TURN_PORT = 3478;
const SIGNAL_PORT = 8080;
const SIGNAL_TLS_PORT = 8443;

export interface Turn {
  /** The `turn:` URL (UDP) tabs are given; the same port answers STUN. */
  turnUrl: string;
  stunUrl: string;
  secret: string;
  service: Service;
}

/**
 * coturn on the wan address with the TURN REST API secret (`use-auth-secret`) and `-v`, which
 * logs each allocation's user (the tests read it), with its pid file and database in the
 * testbed's directory so runs never share coturn's system paths.
 */
export async function startTurn(bed: Testbed): Promise<Turn> {
  const secret = randomBytes(24).toString('base64url');
  const service = bed.spawn(bed.wan, 'turnserver', [
    '-n', '-v', '--no-tls', '--no-dtls', '--no-cli', '--log-file=stdout',
    `--listening-ip=${WAN_IP}`, `--relay-ip=${WAN_IP}`, `--listening-port=${TURN_PORT}`,
    '--min-port=49152', '--max-port=49352',
    '--use-auth-secret', `--static-auth-secret=${secret}`, '--realm=peerchat.test',
    `--pidfile=${join(bed.dir, 'turnserver.pid')}`, `--userdb=${join(bed.dir, 'turndb')}`,
  ]);
  await service.waitFor(new RegExp(`UDP listener opened on: ${WAN_IP.replaceAll('.', '\\.')}:${TURN_PORT}`));
  return { turnUrl: `turn:${WAN_IP}:${TURN_PORT}?transport=udp`, stunUrl: `stun:${WAN_IP}:${TURN_PORT}`, secret, service };
}

export interface Certificate {
  certPath: string;
  keyPath: string;
  /**
   * base64 SHA-256 of the certificate's public key, for Chromium's
   * `--ignore-certificate-errors-spki-list`: the browser trusts this one certificate as a
   * user would after installing it, and nothing else.
   */
  spki: string;
}

/** A self-signed certificate for the wan address, valid for a day. */
export function selfSignedCertificate(bed: Testbed): Certificate {
  const certPath = join(bed.dir, 'cert.pem');
  const keyPath = join(bed.dir, 'key.pem');
  const result = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', '1',
    '-subj', `/CN=${WAN_IP}`, '-addext', `subjectAltName=IP:${WAN_IP}`,
  ], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`openssl could not make a certificate: ${result.stderr}`);
  const spkiDer = new X509Certificate(readFileSync(certPath)).publicKey.export({ type: 'spki', format: 'der' });
  return { certPath, keyPath, spki: createHash('sha256').update(spkiDer).digest('base64') };
}

export interface SignalServerProcess {
  /** The app's address, e.g. http://203.0.113.1:8080. */
  url: string;
  service: Service;
}

/**
 * The signal server in the wan namespace, serving the built app (dist/) and reading its ICE and
 * TLS settings from `env` exactly as `npm start` does: STUN_URLS, TURN_URLS, TURN_SECRET,
 * TURN_TTL_S, TLS_CERT, TLS_KEY.
 */
export async function startSignalServer(bed: Testbed, env: Record<string, string> = {}): Promise<SignalServerProcess> {
  const tls = env['TLS_CERT'] !== undefined;
  const port = tls ? SIGNAL_TLS_PORT : SIGNAL_PORT;
  const root = projectRoot();
  const service = bed.spawn(bed.wan, process.execPath, ['--import', 'tsx', join(root, 'signal-server', 'main.ts')], {
    ...env,
    HOST: WAN_IP,
    PORT: String(port),
  }, root);
  const running = await service.waitFor(/Peerchat is running\. Open (\S+) /);
  return { url: running[1]!.replace(/\/$/, ''), service };
}

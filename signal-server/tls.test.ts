import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSignalServer, type SignalServer, type SignalServerOptions } from './server.ts';
import { TestClient } from './test-client.ts';

let dir: string;
let tls: { cert: Buffer; key: Buffer };
const servers: SignalServer[] = [];
const clients: TestClient[] = [];

/** A throwaway self-signed certificate for localhost, made by the openssl CLI. */
function makeCertificate(into: string): void {
  const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost'];
  try {
    execFileSync('openssl', [...args, '-keyout', join(into, 'key.pem'), '-out', join(into, 'cert.pem')], { stdio: 'pipe' });
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
    throw new Error('The TLS tests make a certificate with the openssl CLI: install openssl (apt-get install openssl).');
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peerchat-tls-'));
  makeCertificate(dir);
  tls = { cert: await readFile(join(dir, 'cert.pem')), key: await readFile(join(dir, 'key.pem')) };
});

afterAll(() => rm(dir, { recursive: true, force: true }));

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(options: SignalServerOptions): Promise<SignalServer> {
  const server = createSignalServer({ port: 0, staticDir: dir, ...options });
  servers.push(server);
  await server.ready;
  return server;
}

/** GET `url` as JSON; the certificate is self-signed, so it is not checked against a CA. */
function getJson(url: string): Promise<unknown> {
  const get = url.startsWith('https:') ? httpsGet : httpGet;
  return new Promise((resolve, reject) => {
    const req = get(url, { rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(JSON.parse(body)));
    });
    req.on('error', reject);
  });
}

describe('the signal server with TLS', () => {
  it('serves /healthz over https and says tls is on', async () => {
    const server = await start({ tls });
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    expect(await getJson(`${server.url}healthz`)).toEqual({ ok: true, tls: true, redis: 'off' });
  });

  it('accepts a wss:// socket on /signal on the same port and sends its challenge', async () => {
    const server = await start({ tls });
    const client = TestClient.connect(server.url, { rejectUnauthorized: false });
    clients.push(client);
    expect(client.ws.url).toMatch(/^wss:\/\//);
    const challenge = await client.next('challenge');
    expect(challenge.nonce.length).toBeGreaterThan(0);
  });

  it('says tls is off when it serves plain http', async () => {
    const server = await start({});
    expect(server.url).toMatch(/^http:\/\//);
    expect(await getJson(`${server.url}healthz`)).toEqual({ ok: true, tls: false, redis: 'off' });
  });

  it('throws before listening when the certificate is not PEM', () => {
    expect(() => createSignalServer({ port: 0, staticDir: dir, tls: { cert: 'not a certificate', key: tls.key } })).toThrow();
  });
});

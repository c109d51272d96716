/**
 * HELLO is bound to the DTLS fingerprints read from the descriptions (web/net/webrtc-transport.ts),
 * so those must be the certificates the connection really uses. In Chromium:
 * - the relay attack's description (the real peer's fingerprint added at session level, the
 *   relay's own at media level) is accepted by Chromium itself and opens a channel, so the
 *   app's check is what stops it, and that check refuses the very description Chromium made;
 * - after connecting, getStats reports the certificate each peer used, and it is the one its
 *   description named, so the app's check after connect has the data it needs in a browser.
 */
import { expect, test } from './fixtures.ts';
import { watchConnections } from './nat/paths.ts';
import { remoteCertificateFingerprint, sdpFingerprint } from '../web/net/webrtc-transport.ts';

test('Chromium accepts a false session-level fingerprint beside the real one; the app refuses it', async ({ browser, server }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(server.url);
  const victim = `sha-256 ${Array.from({ length: 32 }, (_, i) => (i * 7 + 16).toString(16).toUpperCase().padStart(2, '0')).join(':')}`;
  const outcome = await page.evaluate(async (victim) => {
    const honest = new RTCPeerConnection();
    const relay = new RTCPeerConnection();
    honest.onicecandidate = (e) => e.candidate && void relay.addIceCandidate(e.candidate);
    relay.onicecandidate = (e) => e.candidate && void honest.addIceCandidate(e.candidate);
    const channel = honest.createDataChannel('dht');
    const got = new Promise<string>((resolve) => {
      relay.ondatachannel = (e) => (e.channel.onopen = () => e.channel.send('from the relay'));
      channel.onmessage = (e) => resolve(String(e.data));
    });
    await honest.setLocalDescription();
    await relay.setRemoteDescription(honest.localDescription!);
    await relay.setLocalDescription();
    const real = relay.localDescription!.sdp;
    const tampered = real.replace(/\r\nm=/, `\r\na=fingerprint:${victim}\r\nm=`);
    await honest.setRemoteDescription({ type: 'answer', sdp: tampered });
    const text = await got;
    honest.close();
    relay.close();
    return { real, tampered, text };
  }, victim);
  expect(outcome.text).toBe('from the relay');
  expect(sdpFingerprint(outcome.real)).toMatch(/^sha-256 [0-9A-F:]{95}$/);
  expect(sdpFingerprint(outcome.tampered)).toBeNull();
  await context.close();
});

test('in the app, each connection\'s handshake certificate is the one its description named', async ({ tabs }) => {
  const a = await tabs.open('', watchConnections);
  await tabs.open('', watchConnections);
  await expect.poll(() => a.page.evaluate(() => (window.__peerConnections ?? []).filter((pc) => pc.connectionState === 'connected').length)).toBeGreaterThanOrEqual(1);
  // The app's own function, evaluated in the page (as an expression, which no page policy
  // stops) on the page's connections.
  const found = await a.page.evaluate<{ described: string; used: string | null }[]>(`(async () => {
    const read = ${remoteCertificateFingerprint.toString()};
    const out = [];
    for (const pc of window.__peerConnections ?? []) {
      if (pc.connectionState === 'connected') out.push({ described: pc.remoteDescription.sdp, used: await read(pc) });
    }
    return out;
  })()`);
  expect(found.length).toBeGreaterThanOrEqual(1);
  for (const { described, used } of found) {
    expect(used).toMatch(/^sha-256 [0-9A-F:]{95}$/);
    expect(used).toBe(sdpFingerprint(described));
  }
  const { node } = await a.page.evaluate(() => window.peerchat!.stats());
  expect(node['dtls-certificate-mismatch'] ?? 0).toBe(0);
});

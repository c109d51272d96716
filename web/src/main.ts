/**
 * The app's entry: the one place that builds things from the real world (WebCrypto here; the
 * engine, transport and storage in later issues) and hands them to the UI.
 */
import { mount } from 'svelte';
import { idToHex, nodeIdFromSigningKey } from '../../shared/id.ts';
import App from './App.svelte';
import './app.css';

/** A fresh identity per page load until IndexedDB keeps one (a later issue). */
async function createNodeIdHex(): Promise<string> {
  const keys = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', keys.publicKey));
  return idToHex(await nodeIdFromSigningKey(raw));
}

const target = document.getElementById('app');
if (!target) throw new Error('index.html must contain <div id="app">');

mount(App, { target, props: { nodeId: createNodeIdHex() } });

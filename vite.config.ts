import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { VitePWA } from 'vite-plugin-pwa';
import { simplePeerBrowserDeps } from './web/net/simple-peer-deps/plugin.ts';

// Absolute, so the config works from any working directory (scripts/start.mjs, IDEs).
const projectRoot = fileURLToPath(new URL('.', import.meta.url));
const webRoot = fileURLToPath(new URL('./web', import.meta.url));
const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? 'localhost';
const THEME_COLOR = '#2563eb';

export default defineConfig({
  root: webRoot,
  // Relative to root: the build lands in dist/ at the project root, where `npm start` serves it.
  // No modulepreload polyfill: every browser with Ed25519 in WebCrypto (which the app needs)
  // supports modulepreload itself.
  build: { outDir: '../dist', emptyOutDir: true, modulePreload: { polyfill: false } },
  server: {
    port,
    host,
    strictPort: true,
    // web/ imports the engine from ../shared, which is outside Vite's root.
    fs: { allow: [projectRoot] },
  },
  // The dev server prebundles simple-peer: the same browser stand-ins as the build.
  optimizeDeps: { rolldownOptions: { plugins: [simplePeerBrowserDeps()] } },
  preview: { port, host, strictPort: true },
  plugins: [
    // Svelte 5 compiles TypeScript in <script lang="ts"> itself, so no svelte.config.js is needed.
    svelte({ configFile: false }),
    simplePeerBrowserDeps(),
    VitePWA({
      strategies: 'generateSW',
      // A new version waits for the user's "Update now" (web/src/app-lifecycle.ts): taking over
      // by itself would run a tab's old page against the new version's cached files.
      registerType: 'prompt',
      // Registered by web/src/app-lifecycle.ts (WorkerUpdates), without workbox-window.
      injectRegister: false,
      includeAssets: ['icon.svg'],
      workbox: {
        // The twin URL must come from the server with its COOP/COEP headers, or the browser
        // keeps the renderer process and its connection count; the server's own endpoints are
        // never app pages.
        navigateFallbackDenylist: [/^\/twin(\/|$)/, /^\/signal$/, /^\/stats$/, /^\/healthz$/],
        // A notification's click (web/public/notification-click.js): the generated worker plus one
        // handler, where injectManifest would have us build and keep the whole worker ourselves.
        importScripts: ['notification-click.js'],
      },
      manifest: {
        name: 'Peerchat',
        short_name: 'Peerchat',
        description: 'Serverless chat: every browser tab is a Kademlia node speaking over WebRTC.',
        theme_color: THEME_COLOR,
        background_color: '#ffffff',
        display: 'standalone',
        start_url: '.',
        icons: [{ src: 'icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' }],
      },
    }),
  ],
});

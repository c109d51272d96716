/// <reference types="vite/client" />
/// <reference types="vite-plugin-pwa/client" />
// Brings Svelte's ambient `declare module '*.svelte'` so tsc accepts component imports.
/// <reference types="svelte" />

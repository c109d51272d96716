/// <reference types="vite/client" />
// Brings Svelte's ambient `declare module '*.svelte'` so tsc accepts component imports.
/// <reference types="svelte" />

/**
 * The page that is not a secure context (main.ts checks, and loads this chunk only then): says
 * why Peerchat cannot run here and what to do (secure-context.ts), on InsecureScreen.
 */
import { mount } from 'svelte';
import InsecureScreen from '../components/InsecureScreen.svelte';
import { insecureContext } from './secure-context.ts';

export function showInsecure(target: HTMLElement): void {
  const problem = insecureContext({
    isSecureContext: window.isSecureContext,
    hasSubtle: globalThis.crypto?.subtle !== undefined,
    protocol: location.protocol,
    hostname: location.hostname,
  });
  // main.ts loads this only when one of the two is missing, which insecureContext names.
  if (problem) mount(InsecureScreen, { target, props: { problem } });
}

/**
 * Whether this page can run Peerchat at all. The engine needs WebCrypto (`crypto.subtle`: the
 * identity keys, sealing) and the app a service worker, and browsers give both only to a secure
 * context: HTTPS, or http on localhost. Opened elsewhere over plain http the app would fail much
 * later and in confusing ways, so main.ts asks this first and shows InsecureScreen instead.
 */

export interface PageContext {
  /** `window.isSecureContext`: the browser's own verdict. */
  isSecureContext: boolean;
  /** Whether `crypto.subtle` exists. */
  hasSubtle: boolean;
  /** `location.protocol`, e.g. `http:`. */
  protocol: string;
  /** `location.hostname`, e.g. `192.168.1.20`. */
  hostname: string;
}

/** Why Peerchat cannot run here and what to do, as the screen shows them. */
export interface InsecureContext {
  why: string;
  fixes: string[];
}

const OVER_HTTPS =
  'Open Peerchat over HTTPS: start its server with TLS_CERT and TLS_KEY set to a PEM certificate and key, or put it behind a reverse proxy that serves HTTPS.';
const ON_LOCALHOST = 'Or open it on the machine that runs the server, at http://localhost with the same port.';

/** Null when the page can run Peerchat; otherwise why not and what to do. */
export function insecureContext(page: PageContext): InsecureContext | null {
  if (!page.isSecureContext) {
    const where = page.protocol === 'http:' ? `plain http at ${page.hostname}` : `${page.protocol}//${page.hostname}`;
    return {
      why: `Peerchat needs a secure context for its encryption (WebCrypto) and offline support, and this page was opened over ${where}, which the browser does not treat as secure.`,
      fixes: [OVER_HTTPS, ON_LOCALHOST],
    };
  }
  if (!page.hasSubtle) {
    return {
      why: 'Peerchat needs WebCrypto (crypto.subtle) for its encryption, and this browser does not provide it.',
      fixes: ['Open Peerchat in a current version of Firefox, Chrome, Edge or Safari.'],
    };
  }
  return null;
}

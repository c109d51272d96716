import { describe, expect, it } from 'vitest';
import { insecureContext, type PageContext } from './secure-context.ts';

// What a browser reports for each page: localhost is a secure context even over plain http.
const localhostHttp: PageContext = { isSecureContext: true, hasSubtle: true, protocol: 'http:', hostname: 'localhost' };
const loopbackHttp: PageContext = { isSecureContext: true, hasSubtle: true, protocol: 'http:', hostname: '127.0.0.1' };
const lanHttp: PageContext = { isSecureContext: false, hasSubtle: false, protocol: 'http:', hostname: '203.0.113.1' };
const lanHttps: PageContext = { isSecureContext: true, hasSubtle: true, protocol: 'https:', hostname: '203.0.113.1' };

describe('insecureContext', () => {
  it('lets Peerchat run over plain http on localhost and 127.0.0.1', () => {
    expect(insecureContext(localhostHttp)).toBeNull();
    expect(insecureContext(loopbackHttp)).toBeNull();
  });

  it('lets Peerchat run over https on any address', () => {
    expect(insecureContext(lanHttps)).toBeNull();
  });

  it('refuses plain http on another address, naming it and saying to use HTTPS or localhost', () => {
    const problem = insecureContext(lanHttp);
    expect(problem?.why).toContain('plain http at 203.0.113.1');
    expect(problem?.fixes.join(' ')).toMatch(/HTTPS.*TLS_CERT.*TLS_KEY.*reverse proxy/);
    expect(problem?.fixes.join(' ')).toContain('localhost');
  });

  it('refuses an insecure context even when the browser still exposes crypto.subtle', () => {
    expect(insecureContext({ ...lanHttp, hasSubtle: true })).not.toBeNull();
  });

  it('refuses a secure context without crypto.subtle, saying to use a current browser', () => {
    const problem = insecureContext({ ...lanHttps, hasSubtle: false });
    expect(problem?.why).toContain('crypto.subtle');
    expect(problem?.fixes.join(' ')).toContain('current version');
  });
});

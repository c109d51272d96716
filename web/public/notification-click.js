// A click on a Peerchat notification, in the service worker: vite.config.ts has the generated
// worker import this file. Each tab is its own identity, so the worker asks every Peerchat
// window whether the notification is its own (web/src/browser-attention.ts answers, and opens
// the conversation if so), and focuses the window that should show it (chooseWindow): its own
// tab; else a window on the join screen, handed the click's hint; else a new window whose address
// carries that hint (hintFragment).
const CLICK_MESSAGE = 'peerchat:notificationclick';
/** The hint for a window on the join screen, the fragment a new window would have (hintFragment). */
const HINT_MESSAGE = 'peerchat:notificationhint';
/** How long a window has to answer; a frozen tab never does. */
const ANSWER_MS = 1000;
/** The Web Lock a tab holds on its identity for its life (web/storage/tab-identity.ts). */
const LOCK_PREFIX = 'peerchat-identity-';

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(openClicked(event.notification.data));
});

async function openClicked(data) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const [answers, held] = await Promise.all([ask(windows, data), identityHeld(data?.identity)]);
  const chosen = chooseWindow(windows, answers, held);
  if (!chosen) return self.clients.openWindow(self.registration.scope + hintFragment(data));
  if (chosen.hint) chosen.client.postMessage({ type: HINT_MESSAGE, hint: hintFragment(data) });
  // Only a real click may focus; the conversation is open either way.
  return chosen.client.focus().catch(() => chosen.client);
}

/**
 * Each window's answer, in order: true (the notification is its identity's: it opened the
 * conversation), 'free' (it is on the join screen), false (another identity's, or still starting),
 * undefined (none within ANSWER_MS: frozen, or too busy). Settles early on true.
 */
function ask(windows, data) {
  return new Promise((resolve) => {
    const answers = windows.map(() => undefined);
    const done = () => resolve(answers.slice());
    let left = windows.length;
    if (left === 0) done();
    setTimeout(done, ANSWER_MS);
    windows.forEach((client, i) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = (event) => {
        answers[i] = event.data === true || event.data === 'free' ? event.data : false;
        channel.port1.close();
        if (event.data === true || --left === 0) done();
      };
      client.postMessage({ type: CLICK_MESSAGE, data }, [channel.port2]);
    });
  });
}

/**
 * Whether some tab holds the identity's Web Lock: its tab is open, answer or not; null when the
 * worker cannot tell (no Web Locks here). Which tab holds it the worker cannot tell either:
 * Chromium's LockInfo.clientId is no Client.id it sees (a hex token, where those are UUIDs).
 */
async function identityHeld(identity) {
  if (typeof identity !== 'string') return false;
  try {
    return ((await self.navigator.locks.query()).held ?? []).some((l) => l.name === LOCK_PREFIX + identity);
  } catch {
    return null;
  }
}

/**
 * The window to focus, and whether to hand it the hint; null: open a new window at the hint.
 * 1. The window that said the notification is its own (it opened the conversation).
 * 2. A window that did not answer, while the identity's lock is held (or cannot be read): it may
 *    be the identity's own tab, frozen (the first such, if several). It is focused rather than
 *    the hint handed on or a duplicate window made: focusing thaws it, and the question waiting
 *    in its queue opens the conversation. With the lock free the tab is closed, and silence
 *    means nothing.
 * 3. A window on the join screen takes the hint, as a new window at it would (it offers the
 *    identity, web/src/open-hint.ts); no other window can: a signed-in tab is its identity for
 *    life, so the identity gets a new window. Should its tab be open after all (the lock held by
 *    a tab still starting, which answered false), either is harmless: the lock refuses a second
 *    tab the identity, and its join screen shows it "(open in another tab)" without offering it.
 */
function chooseWindow(windows, answers, held) {
  const own = windows.find((_, i) => answers[i] === true);
  if (own) return { client: own, hint: false };
  const silent = windows.find((_, i) => answers[i] === undefined);
  if (silent && held !== false) return { client: silent, hint: false };
  const free = windows.find((_, i) => answers[i] === 'free');
  return free ? { client: free, hint: true } : null;
}

/**
 * The hint a new window's address carries after the scope, as a fragment: the notification's
 * identity (`as`) and conversation (`open`; none for a message request), which the page reads
 * (web/src/open-hint.ts) to offer that identity first and open the conversation once signed in
 * as it; '' for data that names nothing. The fragment, not a query: it never reaches the
 * network, so the worker's navigateFallback serves the cached index.html for it as for the scope
 * itself (offline too), the server never sees or logs it, and a reload ("Continue as" reloads)
 * and the twin-URL move (web/net/tab.ts) keep it.
 */
function hintFragment(data) {
  const hint = new URLSearchParams();
  if (typeof data?.identity === 'string') hint.set('as', data.identity);
  if (typeof data?.conversation === 'string') hint.set('open', data.conversation);
  const fragment = String(hint);
  return fragment === '' ? '' : `#${fragment}`;
}

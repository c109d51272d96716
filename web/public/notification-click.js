// A click on a Peerchat notification, in the service worker: vite.config.ts has the generated
// worker import this file. Each tab is its own identity, so the worker asks every Peerchat
// window whether the notification is its own (web/src/browser-attention.ts answers, and opens
// the conversation if so), then focuses that window: else any Peerchat window, else a new one
// whose address says what the click was about (hintUrl).
const CLICK_MESSAGE = 'peerchat:notificationclick';
/** How long a window has to answer; a frozen tab never does. */
const ANSWER_MS = 1000;

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(openClicked(event.notification.data));
});

async function openClicked(data) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const client = (await ownWindow(windows, data)) ?? windows[0];
  if (!client) return self.clients.openWindow(hintUrl(data));
  // Only a real click may focus; the conversation is open either way.
  return client.focus().catch(() => client);
}

/** The first window that says the notification is its own, or undefined. */
function ownWindow(windows, data) {
  return new Promise((resolve) => {
    let left = windows.length;
    if (left === 0) resolve(undefined);
    setTimeout(resolve, ANSWER_MS, undefined);
    for (const client of windows) {
      const channel = new MessageChannel();
      channel.port1.onmessage = (event) => {
        if (event.data === true) resolve(client);
        else if (--left === 0) resolve(undefined);
        channel.port1.close();
      };
      client.postMessage({ type: CLICK_MESSAGE, data }, [channel.port2]);
    }
  });
}

/**
 * The address of a new window for the click: the scope, with the notification's identity (`as`)
 * and conversation (`open`; none for a message request) in its fragment, which the page reads
 * (web/src/open-hint.ts) to offer that identity first and open the conversation once signed in
 * as it. The fragment, not a query: it never reaches the network, so the worker's
 * navigateFallback serves the cached index.html for it as for the scope itself (offline too),
 * the server never sees or logs it, and a reload ("Continue as" reloads) and the twin-URL move
 * (web/net/tab.ts) keep it.
 */
function hintUrl(data) {
  const hint = new URLSearchParams();
  if (typeof data?.identity === 'string') hint.set('as', data.identity);
  if (typeof data?.conversation === 'string') hint.set('open', data.conversation);
  const fragment = String(hint);
  return fragment === '' ? self.registration.scope : `${self.registration.scope}#${fragment}`;
}

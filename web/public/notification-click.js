// A click on a Peerchat notification, in the service worker: vite.config.ts has the generated
// worker import this file. Each tab is its own identity, so the worker asks every Peerchat
// window whether the notification is its own (web/src/browser-attention.ts answers, and opens
// the conversation if so), then focuses that window: else any Peerchat window, else a new one.
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
  if (!client) return self.clients.openWindow(self.registration.scope);
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

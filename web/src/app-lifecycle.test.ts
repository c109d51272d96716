import { describe, expect, it } from 'vitest';
import { InstallOffer, WorkerUpdates, type WorkerContainer } from './app-lifecycle.ts';

/** A beforeinstallprompt as Chromium fires it, answered with `outcome`. */
function offer(outcome: 'accepted' | 'dismissed') {
  const event = new Event('beforeinstallprompt', { cancelable: true }) as Event & { prompted: number; prompt(): Promise<void>; userChoice: Promise<{ outcome: string }> };
  event.prompted = 0;
  event.prompt = async () => {
    event.prompted++;
  };
  event.userChoice = Promise.resolve({ outcome });
  return event;
}

describe('the install offer', () => {
  it('is kept for the button when the browser makes it, instead of the browser’s own bar', () => {
    const target = new EventTarget();
    const state = { installable: false };
    new InstallOffer(target, state);
    const event = offer('accepted');
    target.dispatchEvent(event);
    expect(event.defaultPrevented).toBe(true);
    expect(state.installable).toBe(true);
  });

  it('prompts once per offer, and the button goes until the browser offers again', async () => {
    const target = new EventTarget();
    const state = { installable: false };
    const install = new InstallOffer(target, state);
    expect(await install.install()).toBe('unavailable');
    const event = offer('dismissed');
    target.dispatchEvent(event);
    expect(await install.install()).toBe('dismissed');
    expect(event.prompted).toBe(1);
    expect(state.installable).toBe(false);
    expect(await install.install()).toBe('unavailable');
    target.dispatchEvent(offer('accepted'));
    expect(state.installable).toBe(true);
  });

  it('is withdrawn once the app is installed', () => {
    const target = new EventTarget();
    const state = { installable: false };
    new InstallOffer(target, state);
    target.dispatchEvent(offer('accepted'));
    target.dispatchEvent(new Event('appinstalled'));
    expect(state.installable).toBe(false);
  });
});

/** A worker as the browser hands it over: its state changes, and what it was told. */
class FakeWorker extends EventTarget {
  told: unknown[] = [];
  constructor(public state: string) {
    super();
  }
  postMessage(message: unknown): void {
    this.told.push(message);
  }
  become(state: string): void {
    this.state = state;
    this.dispatchEvent(new Event('statechange'));
  }
}

/** A ServiceWorkerContainer with one registration, `waiting` set as the page loaded it. */
function container(controlled: boolean, waiting: FakeWorker | null = null) {
  const registration = Object.assign(new EventTarget(), { waiting, installing: null as FakeWorker | null });
  const events = new EventTarget();
  const c = {
    controller: controlled ? ({} as ServiceWorker) : null,
    register: async () => registration as unknown as ServiceWorkerRegistration,
    addEventListener: events.addEventListener.bind(events),
  } as WorkerContainer;
  /** A new version found: it installs beside the running one. */
  const deploy = (): FakeWorker => {
    const worker = new FakeWorker('installing');
    registration.installing = worker;
    registration.dispatchEvent(new Event('updatefound'));
    worker.become('installed');
    return worker;
  };
  return { c, deploy, takeOver: () => events.dispatchEvent(new Event('controllerchange')) };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('service worker updates', () => {
  it('offer a version that installed beside the running one, and let it take over on "Update now", reloading once', async () => {
    const { c, deploy, takeOver } = container(true);
    let ready = 0;
    let reloads = 0;
    const updates = new WorkerUpdates(c, '/sw.js', () => ready++, () => reloads++);
    await settle();
    expect(ready).toBe(0);
    const next = deploy();
    expect(ready).toBe(1);
    expect(next.told).toEqual([]);
    updates.update();
    expect(next.told).toEqual([{ type: 'SKIP_WAITING' }]);
    takeOver();
    takeOver();
    expect(reloads).toBe(1);
  });

  it('offer a version already waiting when the page loads', async () => {
    const waiting = new FakeWorker('installed');
    const { c } = container(true, waiting);
    let ready = 0;
    const updates = new WorkerUpdates(c, '/sw.js', () => ready++, () => {});
    await settle();
    expect(ready).toBe(1);
    updates.update();
    expect(waiting.told).toEqual([{ type: 'SKIP_WAITING' }]);
  });

  it('do not offer the first install (nothing controlled the page), nor reload when it claims the page', async () => {
    const { c, deploy, takeOver } = container(false);
    let ready = 0;
    let reloads = 0;
    const updates = new WorkerUpdates(c, '/sw.js', () => ready++, () => reloads++);
    await settle();
    const first = deploy();
    updates.update();
    takeOver();
    expect([ready, reloads, first.told.length]).toEqual([0, 0, 0]);
  });

  it('leave the app running when registration fails', async () => {
    const c = { controller: null, register: () => Promise.reject(new Error('SecurityError')), addEventListener: () => {} } as unknown as WorkerContainer;
    const updates = new WorkerUpdates(c, '/sw.js', () => {}, () => {});
    await settle();
    expect(() => updates.update()).not.toThrow();
  });
});

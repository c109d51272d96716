import { describe, expect, it } from 'vitest';
import { InstallOffer } from './app-lifecycle.ts';

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

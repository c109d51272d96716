import { describe, expect, it } from 'vitest';
import { submitting, type SubmitState } from './submitting.ts';

/** An action that waits until the test settles it. */
function pending(): { action: () => Promise<void>; calls: () => number; resolve: () => void; reject: (err: unknown) => void } {
  let calls = 0;
  let settle: { resolve: () => void; reject: (err: unknown) => void } | null = null;
  return {
    action: () => {
      calls++;
      return new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    },
    calls: () => calls,
    resolve: () => settle!.resolve(),
    reject: (err) => settle!.reject(err),
  };
}

describe('a form submitting', () => {
  it('is busy while its action runs and clears the last error when it starts', async () => {
    const state: SubmitState = { busy: false, error: null };
    const last = submitting(state, () => Promise.reject(new Error('Wrong passphrase.')));
    await last;
    expect(state).toEqual({ busy: false, error: 'Wrong passphrase.' });
    const work = pending();
    const run = submitting(state, work.action);
    expect(state).toEqual({ busy: true, error: null });
    work.resolve();
    await run;
    expect(state).toEqual({ busy: false, error: null });
  });

  it('ignores a second submit while the first still runs', async () => {
    const state: SubmitState = { busy: false, error: null };
    const work = pending();
    const first = submitting(state, work.action);
    const second = submitting(state, work.action);
    expect(work.calls()).toBe(1);
    await second;
    expect(state.busy).toBe(true);
    work.resolve();
    await first;
    expect(state.busy).toBe(false);
  });

  it('says in words what the action threw, and takes a new submit after', async () => {
    const state: SubmitState = { busy: false, error: null };
    const work = pending();
    const run = submitting(state, work.action);
    work.reject(new Error('Nobody holds the name carol.'));
    await run;
    expect(state).toEqual({ busy: false, error: 'Nobody holds the name carol.' });
    await submitting(state, () => Promise.reject('offline'));
    expect(state).toEqual({ busy: false, error: 'offline' });
  });

  it('stays busy after a success that reloads the page, but not after a failure', async () => {
    const state: SubmitState = { busy: false, error: null };
    await submitting(state, () => Promise.reject(new Error('Not an identity file.')), true);
    expect(state).toEqual({ busy: false, error: 'Not an identity file.' });
    await submitting(state, () => Promise.resolve(), true);
    expect(state).toEqual({ busy: true, error: null });
  });
});

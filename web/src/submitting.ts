/**
 * The submit of a form that waits on an action (ExportIdentityForm.svelte, ImportIdentityForm.svelte,
 * NewGroupForm.svelte): the component keeps a SubmitState in `$state` and its markup reads it.
 */
export interface SubmitState {
  /** The action is running: the form shows it and takes no second submit. */
  busy: boolean;
  /** Why the last submit failed, in the words of what the action threw; null after a new one starts. */
  error: string | null;
}

/**
 * Runs `action` for a submit, unless one is still running: `busy` while it runs, and `error` if it
 * throws. `staysBusy`: success leaves the form busy, for an action after which the page reloads.
 */
export async function submitting(state: SubmitState, action: () => Promise<void>, staysBusy = false): Promise<void> {
  if (state.busy) return;
  state.busy = true;
  state.error = null;
  try {
    await action();
    state.busy = staysBusy;
  } catch (err) {
    state.error = err instanceof Error ? err.message : String(err);
    state.busy = false;
  }
}

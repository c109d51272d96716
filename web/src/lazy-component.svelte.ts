/**
 * A component in a chunk of its own, loaded on first use: forms most sessions never open stay
 * out of the start-up JS (e2e/startup-js.spec.ts budgets it). `error` says in words why it could
 * not load (a deployment replaced the chunk while the tab was offline, say); `load` may be
 * called again to retry.
 */
export interface LazyComponent<C> {
  readonly component: C | null;
  readonly loading: boolean;
  readonly error: string | null;
  /** Loads it once; true when it is there. */
  load(): Promise<boolean>;
}

export function lazyComponent<C>(load: () => Promise<{ default: C }>): LazyComponent<C> {
  let component = $state.raw<C | null>(null);
  let loading = $state(false);
  let error = $state<string | null>(null);
  return {
    get component() {
      return component;
    },
    get loading() {
      return loading;
    },
    get error() {
      return error;
    },
    async load() {
      if (component) return true;
      loading = true;
      error = null;
      try {
        component = (await load()).default;
        return true;
      } catch {
        error = 'This part of Peerchat could not be loaded. Check the connection, then try again.';
        return false;
      } finally {
        loading = false;
      }
    },
  };
}

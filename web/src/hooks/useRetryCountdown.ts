import { useCallback, useSyncExternalStore } from 'react';

/** Whole seconds left until `retryAt` (ms since the epoch), ticking down; null when none is due. */
export function useRetryCountdown(retryAt: number | null): number | null {
  // The clock is the store: read at each render, so the value is never stale, and
  // checked every 250 ms while a retry is due (a render only when the value changed).
  const subscribe = useCallback(
    (onChange: () => void) => {
      if (retryAt === null) return () => {};
      const id = setInterval(onChange, 250);
      return () => clearInterval(id);
    },
    [retryAt],
  );
  return useSyncExternalStore(subscribe, () => (retryAt === null ? null : Math.max(0, Math.ceil((retryAt - Date.now()) / 1000))));
}

import { useEffect, useState } from 'react';

/** Whole seconds left until `retryAt` (ms since the epoch), ticking down; null when none is due. */
export function useRetryCountdown(retryAt: number | null): number | null {
  // The state only makes the component render again as time passes; the value is
  // computed from the clock at each render, so it is never stale.
  const [, setTick] = useState(0);
  useEffect(() => {
    if (retryAt === null) return;
    const id = setInterval(() => setTick((t) => t + 1), 250);
    return () => clearInterval(id);
  }, [retryAt]);
  if (retryAt === null) return null;
  return Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
}

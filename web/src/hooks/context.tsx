import { createContext, useCallback, useContext, useEffect, useRef, useSyncExternalStore, type ReactNode } from 'react';
import type { ApiClient } from '../api/client';
import type { RealtimeEvent, RealtimeEventType, RealtimeHealth, RealtimeLike } from '../realtime';

export interface DomainFlowContextValue {
  client: ApiClient | null;
  realtime: RealtimeLike | null;
}

const DomainFlowContext = createContext<DomainFlowContextValue>({ client: null, realtime: null });

export interface DomainFlowProviderProps {
  client: ApiClient;
  /** The shared realtime connection (optional: without it the hooks just poll). */
  realtime?: RealtimeLike | null;
  children?: ReactNode;
}

/** Gives the hooks below it their API client and, optionally, the shared realtime connection. */
export function DomainFlowProvider({ client, realtime = null, children }: DomainFlowProviderProps) {
  return <DomainFlowContext.Provider value={{ client, realtime }}>{children}</DomainFlowContext.Provider>;
}

/** The client given, or the provider's. */
export function useApiClient(explicit?: ApiClient): ApiClient {
  const ctx = useContext(DomainFlowContext);
  const client = explicit ?? ctx.client;
  if (!client) {
    throw new Error('No API client: wrap the component in <DomainFlowProvider client={…}> or pass options.client.');
  }
  return client;
}

/** The realtime connection given (null: none), or the provider's when undefined. */
export function useRealtime(explicit?: RealtimeLike | null): RealtimeLike | null {
  const ctx = useContext(DomainFlowContext);
  return explicit === undefined ? ctx.realtime : explicit;
}

/** The connection's health, kept current; null without a connection. */
export function useRealtimeHealth(explicit?: RealtimeLike | null): RealtimeHealth | null {
  const realtime = useRealtime(explicit);
  const subscribe = useCallback((onChange: () => void) => (realtime ? realtime.onHealthChange(onChange) : () => {}), [realtime]);
  return useSyncExternalStore(subscribe, () => (realtime ? realtime.health : null));
}

/** Calls handler for each realtime event of the given types (the latest handler is always used). */
export function useRealtimeEvent(
  types: readonly RealtimeEventType[] | '*',
  handler: (event: RealtimeEvent) => void,
  explicit?: RealtimeLike | null,
): void {
  const realtime = useRealtime(explicit);
  const handlerRef = useRef(handler);
  useEffect(() => {
    handlerRef.current = handler;
  });
  const typesKey = types === '*' ? '*' : types.join(',');
  useEffect(() => {
    if (!realtime) return;
    const wanted = typesKey === '*' ? null : new Set(typesKey.split(','));
    return realtime.onAny((ev) => {
      if (wanted === null || wanted.has(ev.type)) handlerRef.current(ev);
    });
  }, [realtime, typesKey]);
}

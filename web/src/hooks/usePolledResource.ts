import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { ApiClient, Conditional } from '../api/client';
import type { ApiError } from '../api/errors';
import type { RealtimeEvent, RealtimeEventType, RealtimeLike } from '../realtime';
import { useApiClient, useRealtime } from './context';
import { INITIAL_POLL_STATE, POLLING_INTERVALS, PollController, QUIET_SOCKET_MULTIPLIER, type BackoffOptions, type PollState } from './polling';
import { useRetryCountdown } from './useRetryCountdown';

export interface PollingOptions {
  /** Default: the DomainFlowProvider's client. */
  client?: ApiClient;
  /** Default: the provider's realtime connection; null: none. */
  realtime?: RealtimeLike | null;
  /** Polling interval (ms). */
  interval?: number;
  /** Interval multiplier while the realtime socket is healthy (default 3). */
  quietIntervalMultiplier?: number;
  backoff?: Partial<BackoffOptions>;
  /** Hint-driven polls are at least this far apart (ms). */
  minHintGapMs?: number;
}

/** What every polled hook returns besides its data. */
export interface PollStatus {
  /** No data yet and the first request is under way. */
  loading: boolean;
  /** A request is under way (initial, poll, refresh or retry). */
  refreshing: boolean;
  /** The last request failed; the data (if any) is what was last read. */
  error: ApiError | null;
  /** Failures in a row. */
  failureCount: number;
  /** When the automatic retry is due (ms since the epoch). */
  retryAt: number | null;
  /** Seconds until the automatic retry (Retry-After on a 429, else the backoff), ticking down. */
  retryInSeconds: number | null;
  /** When data was last read successfully (a 304 counts). */
  lastUpdated: Date | null;
  /** Polls now. */
  refresh: () => Promise<void>;
  /** Retries now, cutting the backoff short. */
  retry: () => void;
}

export interface PolledResourceOptions extends PollingOptions {
  /** Poll on the interval (default true). Without, it fetches once and on hints, refresh and retry. */
  polling?: boolean;
  /** Hints count only for this campaign. */
  campaignId?: string | null;
  /** Realtime event types meaning "poll now" (default: domains_changed). */
  hintTypes?: readonly RealtimeEventType[];
  /** Narrows the hints further. */
  hintFilter?: (event: RealtimeEvent, current: unknown) => boolean;
}

export interface PolledResource<T> extends PollStatus {
  data: T | null;
  /** Replaces the data (for example with a lifecycle call's answer) until the next poll. */
  mutate: (data: T) => void;
}

export type ConditionalFetcher<T> = (client: ApiClient, signal: AbortSignal, etag: string | null) => Promise<Conditional<T>>;

interface ResourceState<T> {
  key: string | null;
  data: T | null;
  poll: PollState;
}

/**
 * Polls one resource with If-None-Match: an unchanged answer (304) keeps the data as it
 * is (same object). `key` names the resource; a new key starts afresh; null fetches nothing.
 */
export function usePolledResource<T>(key: string | null, fetcher: ConditionalFetcher<T>, options: PolledResourceOptions = {}): PolledResource<T> {
  const client = useApiClient(options.client);
  const realtime = useRealtime(options.realtime);
  const interval = options.interval ?? POLLING_INTERVALS.ACTIVE_CAMPAIGN;
  const polling = options.polling ?? true;
  const quietMultiplier = options.quietIntervalMultiplier ?? QUIET_SOCKET_MULTIPLIER;

  const [state, setState] = useState<ResourceState<T>>({ key, data: null, poll: INITIAL_POLL_STATE });
  // A new key starts afresh, before the effect below starts polling it.
  if (state.key !== key) setState({ key, data: null, poll: INITIAL_POLL_STATE });
  const ctrlRef = useRef<PollController | null>(null);
  const latest = useRef({ fetcher, options, data: null as T | null });
  // Before the effects below, so that they and the controller's callbacks see this render's.
  useLayoutEffect(() => {
    latest.current.fetcher = fetcher;
    latest.current.options = options;
  });

  useEffect(() => {
    if (key === null) {
      ctrlRef.current = null;
      return;
    }
    latest.current.data = null;
    let etag: string | null = null;
    const opts = latest.current.options;
    const ctrl: PollController = new PollController({
      run: async (signal) => {
        const r = await latest.current.fetcher(client, signal, etag);
        if (ctrl.isStopped || r.notModified) return;
        etag = r.etag;
        latest.current.data = r.data;
        setState((s) => ({ ...s, key, data: r.data }));
      },
      onState: (poll) => {
        if (!ctrl.isStopped) setState((s) => ({ ...s, key, poll }));
      },
      interval,
      polling,
      realtime,
      quietMultiplier,
      campaignId: opts.campaignId ?? null,
      hintTypes: opts.hintTypes,
      hintFilter: opts.hintFilter ? (ev) => latest.current.options.hintFilter?.(ev, latest.current.data) ?? true : undefined,
      minHintGapMs: opts.minHintGapMs,
      backoff: opts.backoff,
    });
    ctrlRef.current = ctrl;
    void ctrl.start();
    return () => ctrl.stop();
    // The controller lives as long as the resource (key) and client; settings change below.
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the settings are applied by the effect below
  }, [key, client]);

  useEffect(() => {
    ctrlRef.current?.update({ interval, polling, realtime, quietMultiplier });
  }, [interval, polling, realtime, quietMultiplier]);

  const refresh = useCallback(() => ctrlRef.current?.poll('manual') ?? Promise.resolve(), []);
  const retry = useCallback(() => {
    void ctrlRef.current?.retry();
  }, []);
  const mutate = useCallback((data: T) => {
    latest.current.data = data;
    setState((s) => ({ ...s, data }));
  }, []);

  const current = state.key === key ? state : { key, data: null, poll: INITIAL_POLL_STATE };
  const retryInSeconds = useRetryCountdown(current.poll.error ? current.poll.retryAt : null);
  return {
    data: current.data,
    ...pollStatus(current.poll, current.data !== null, key !== null),
    retryInSeconds,
    refresh,
    retry,
    mutate,
  };
}

/** The PollStatus fields derived from a PollState. */
export function pollStatus(poll: PollState, hasData: boolean, enabled: boolean) {
  return {
    loading: enabled && !hasData && poll.error === null,
    refreshing: poll.inFlight,
    error: poll.error,
    failureCount: poll.failures,
    retryAt: poll.error ? poll.retryAt : null,
    lastUpdated: poll.lastSuccessAt !== null ? new Date(poll.lastSuccessAt) : null,
  };
}

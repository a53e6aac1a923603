import { ApiError, isAbortError, toApiError } from '../api/errors';
import { isActiveStatus, type CampaignStatus } from '../api/types';
import type { RealtimeEvent, RealtimeEventType, RealtimeHealth, RealtimeLike } from '../realtime';

/** Polling intervals (ms) for the usual views. */
export const POLLING_INTERVALS = {
  /** A queued or running campaign. */
  ACTIVE_CAMPAIGN: 10_000,
  /** A campaign that is not working (completed, failed, cancelled, paused, draft). */
  COMPLETED_CAMPAIGN: 60_000,
  /** The dashboard overview. */
  DASHBOARD_VIEW: 30_000,
} as const;

/** While the shared WebSocket is healthy (and so will hint when to poll), the interval is multiplied by this. */
export const QUIET_SOCKET_MULTIPLIER = 3;

/** Hint-driven polls of one resource are at least this far apart (ms). */
export const MIN_HINT_GAP_MS = 1000;

/** The interval for a campaign in this status. */
export function pollingIntervalFor(status: CampaignStatus | null | undefined): number {
  return isActiveStatus(status) ? POLLING_INTERVALS.ACTIVE_CAMPAIGN : POLLING_INTERVALS.COMPLETED_CAMPAIGN;
}

export interface BackoffOptions {
  /** Delay after the first failure (ms). */
  initialMs: number;
  /** Longest delay (ms) — a longer Retry-After still wins. */
  maxMs: number;
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 60_000, factor: 2 };

/**
 * Delay before retry number `failures` (1 for the first failure): exponential, capped, and
 * never shorter than the server's Retry-After.
 */
export function backoffDelay(failures: number, retryAfterSeconds: number | null = null, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const exp = Math.min(options.maxMs, options.initialMs * options.factor ** Math.max(0, failures - 1));
  return retryAfterSeconds != null ? Math.max(exp, retryAfterSeconds * 1000) : exp;
}

export type PollReason = 'initial' | 'interval' | 'hint' | 'manual' | 'retry' | 'realtime';

export interface PollState {
  /** A request is under way. */
  inFlight: boolean;
  /** The last request failed with this; null once one succeeds again. */
  error: ApiError | null;
  /** Failures in a row. */
  failures: number;
  /** When the automatic retry is due (ms since the epoch), while in error. */
  retryAt: number | null;
  /** When the last request succeeded (ms since the epoch). */
  lastSuccessAt: number | null;
}

export const INITIAL_POLL_STATE: PollState = { inFlight: false, error: null, failures: 0, retryAt: null, lastSuccessAt: null };

export interface PollSettings {
  /** Base interval (ms). */
  interval: number;
  /** Poll on the interval; false: fetch once, on hints, on refresh and to recover from errors only. */
  polling: boolean;
  /** The shared realtime connection, if any. */
  realtime: RealtimeLike | null;
  /** Interval multiplier while the realtime connection is healthy. */
  quietMultiplier: number;
}

export interface PollControllerOptions extends Partial<PollSettings> {
  /** One poll. Throws (an ApiError, ideally) on failure; it is given an AbortSignal fired by stop(). */
  run: (signal: AbortSignal, reason: PollReason) => Promise<void>;
  /** Hints are taken from events of this campaign only (null: of any campaign). */
  campaignId?: string | null;
  /** Event types that mean "poll now". Default: domains_changed. */
  hintTypes?: readonly RealtimeEventType[];
  /** Further narrows the hints: an event of hintTypes (and of the campaign) is one when this says true. */
  hintFilter?: (event: RealtimeEvent) => boolean;
  minHintGapMs?: number;
  backoff?: Partial<BackoffOptions>;
  onState?: (state: PollState) => void;
}

type TimerKind = 'interval' | 'retry' | 'hint';

/**
 * Schedules the polls of one resource: the initial fetch, the interval (slower while the
 * realtime socket is healthy and quiet), immediate polls on realtime hints, retries with
 * exponential backoff honouring Retry-After, and manual refreshes. Polls and other
 * requests of the resource (exclusive()) run one at a time.
 */
export class PollController {
  private readonly runFn: PollControllerOptions['run'];
  private readonly campaignId: string | null;
  private readonly hintTypes: ReadonlySet<string>;
  private readonly hintFilter: ((event: RealtimeEvent) => boolean) | null;
  private readonly minHintGapMs: number;
  private readonly backoff: BackoffOptions;
  private readonly onState: (s: PollState) => void;
  private settings: PollSettings;

  private readonly abort = new AbortController();
  private stopped = false;
  private started = false;
  private chain: Promise<unknown> = Promise.resolve();
  private queued: Promise<void> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerKind: TimerKind | null = null;
  private timerDueAt = 0;
  private lastStartAt = 0;
  private lastEndAt = 0;
  private wasHealthy = false;
  private hintPending = false;
  private unsubscribe: Array<() => void> = [];
  private current: PollState = INITIAL_POLL_STATE;

  constructor(options: PollControllerOptions) {
    this.runFn = options.run;
    this.campaignId = options.campaignId ?? null;
    this.hintTypes = new Set(options.hintTypes ?? ['domains_changed']);
    this.hintFilter = options.hintFilter ?? null;
    this.minHintGapMs = options.minHintGapMs ?? MIN_HINT_GAP_MS;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.onState = options.onState ?? (() => {});
    this.settings = {
      interval: options.interval ?? POLLING_INTERVALS.ACTIVE_CAMPAIGN,
      polling: options.polling ?? true,
      realtime: options.realtime ?? null,
      quietMultiplier: options.quietMultiplier ?? QUIET_SOCKET_MULTIPLIER,
    };
  }

  get state(): PollState {
    return this.current;
  }

  /** The signal aborted by stop(). */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** The interval in force now (ms). */
  currentInterval(): number {
    const { interval, realtime, quietMultiplier } = this.settings;
    return realtime?.healthy ? interval * quietMultiplier : interval;
  }

  /** Fetches at once, then keeps polling. */
  start(): Promise<void> {
    if (this.started || this.stopped) return Promise.resolve();
    this.started = true;
    this.attachRealtime();
    return this.poll('initial');
  }

  /** Stops for good: aborts the request under way, cancels timers and listeners. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimer();
    this.detachRealtime();
    this.abort.abort();
  }

  /** Changes interval, polling, realtime or multiplier without losing data or state. */
  update(patch: Partial<PollSettings>): void {
    const next = { ...this.settings, ...patch };
    const s = this.settings;
    if (next.interval === s.interval && next.polling === s.polling && next.realtime === s.realtime && next.quietMultiplier === s.quietMultiplier) {
      return;
    }
    const realtimeChanged = next.realtime !== s.realtime;
    this.settings = next;
    if (this.stopped || !this.started) return;
    if (realtimeChanged) {
      this.detachRealtime();
      this.attachRealtime();
    }
    this.reschedule();
  }

  /**
   * Polls now (after the request under way, if any). Calls made while a poll is waiting
   * to run share it.
   */
  poll(reason: PollReason = 'manual'): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.queued) return this.queued;
    this.clearTimer();
    const p = this.enqueue(async () => {
      this.queued = null;
      await this.runPoll(reason);
    });
    this.queued = p;
    return p;
  }

  /** Retries now, cutting a backoff short. */
  retry(): Promise<void> {
    return this.poll('retry');
  }

  /**
   * Runs another request of the resource (for example Load More) between polls. A failure
   * puts the controller in its error state (with backoff) and is rethrown.
   */
  exclusive<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.enqueue(async () => {
      try {
        return await fn(this.abort.signal);
      } catch (err) {
        if (!this.stopped && !isAbortError(err)) this.fail(toApiError(err));
        throw err;
      }
    });
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(() => (this.stopped ? (undefined as T) : fn()));
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async runPoll(reason: PollReason): Promise<void> {
    if (this.stopped) return;
    this.lastStartAt = Date.now();
    this.setState({ inFlight: true });
    try {
      await this.runFn(this.abort.signal, reason);
    } catch (err) {
      if (this.stopped || isAbortError(err)) return;
      this.lastEndAt = Date.now();
      this.hintPending = false;
      this.setState({ inFlight: false });
      this.fail(toApiError(err));
      return;
    }
    if (this.stopped) return;
    this.lastEndAt = Date.now();
    this.setState({ inFlight: false, error: null, failures: 0, retryAt: null, lastSuccessAt: this.lastEndAt });
    if (this.hintPending) {
      this.hintPending = false;
      this.setTimer('hint', Math.max(0, this.lastStartAt + this.minHintGapMs - this.lastEndAt));
    } else {
      this.scheduleInterval(this.currentInterval());
    }
  }

  private fail(error: ApiError): void {
    const failures = this.current.failures + 1;
    const delay = backoffDelay(failures, error.retryAfterSeconds, this.backoff);
    this.setState({ error, failures, retryAt: Date.now() + delay });
    this.setTimer('retry', delay);
  }

  private scheduleInterval(delay: number): void {
    if (!this.settings.polling) {
      this.clearTimer();
      return;
    }
    this.setTimer('interval', Math.max(0, delay));
  }

  /** Recomputes the next interval poll from the last one (after a settings or health change). */
  private reschedule(): void {
    if (this.current.error || this.queued || this.current.inFlight) return;
    if (this.timerKind === 'hint') return;
    const due = this.lastEndAt + this.currentInterval();
    this.scheduleInterval(due - Date.now());
  }

  private setTimer(kind: TimerKind, delay: number): void {
    this.clearTimer();
    if (this.stopped) return;
    this.timerKind = kind;
    this.timerDueAt = Date.now() + delay;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerKind = null;
      void this.poll(kind === 'retry' ? 'retry' : kind === 'hint' ? 'hint' : 'interval');
    }, delay);
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerKind = null;
  }

  private attachRealtime(): void {
    const rt = this.settings.realtime;
    this.wasHealthy = !!rt?.healthy;
    if (!rt) return;
    this.unsubscribe.push(
      rt.onAny((ev) => this.onEvent(ev)),
      rt.onHealthChange((h) => this.onHealth(h)),
    );
  }

  private detachRealtime(): void {
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
  }

  private onEvent(ev: RealtimeEvent): void {
    if (this.stopped || !this.hintTypes.has(ev.type)) return;
    if (this.campaignId !== null && ev.campaign_id !== this.campaignId) return;
    if (this.hintFilter && !this.hintFilter(ev)) return;
    this.hint();
  }

  /** "Poll now": at once, unless in error (the backoff decides) or a poll is due anyway. */
  private hint(): void {
    if (this.current.error || this.queued) return;
    if (this.current.inFlight) {
      // The poll under way may have read the data before the change: poll once more after it.
      this.hintPending = true;
      return;
    }
    const wait = this.lastStartAt + this.minHintGapMs - Date.now();
    if (wait <= 0) {
      void this.poll('hint');
      return;
    }
    // Throttle: poll once the gap since the last poll has passed.
    if (this.timer !== null && this.timerDueAt <= Date.now() + wait) return;
    this.setTimer('hint', wait);
  }

  private onHealth(h: RealtimeHealth): void {
    if (this.stopped) return;
    const was = this.wasHealthy;
    this.wasHealthy = h.healthy;
    if (h.healthy === was) return;
    if (h.healthy && this.current.lastSuccessAt !== null) {
      // Back online: events may have been missed while the socket was down.
      this.hint();
      return;
    }
    this.reschedule();
  }

  private setState(patch: Partial<PollState>): void {
    this.current = { ...this.current, ...patch };
    this.onState(this.current);
  }
}

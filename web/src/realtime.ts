// The event WebSocket (/api/v1/ws): campaign progress and single events only. Domain data
// is never pushed here — it is read over REST; `domains_changed` is just a hint that a
// poll now would return something new.
import type { components } from './api/types';

type Schemas = components['schemas'];

/** Every event type the service sends (openapi.yaml's RealtimeEventType). */
export type RealtimeEventType = Schemas['RealtimeEventType'];

/** The same list at run time. Anything else (for example the deprecated per-domain events) is ignored. */
export const REALTIME_EVENT_TYPES = [
  'campaign_progress',
  'phase_transition',
  'campaign_completed',
  'error',
  'system_notification',
  'proxy_status',
  'proxy_list_update',
  'domains_changed',
] as const satisfies readonly RealtimeEventType[];

// Fails to compile when the spec gains a type the list above lacks.
type MissingEventTypes = Exclude<RealtimeEventType, (typeof REALTIME_EVENT_TYPES)[number]>;
const everyEventTypeListed: [MissingEventTypes] extends [never] ? true : MissingEventTypes = true;
void everyEventTypeListed;

// The payloads, as the spec describes them (gen/ts/schema.d.ts).
export type PhaseCountsData = Schemas['PhaseCounts'];
export type CampaignProgressData = Schemas['CampaignProgressData'];
export type PhaseTransitionData = Schemas['PhaseTransitionData'];
export type CampaignCompletedData = Schemas['CampaignCompletedData'];
export type RealtimeErrorData = Schemas['ErrorEventData'];
export type SystemNotificationData = Schemas['SystemNotificationData'];
export type ProxyStatusData = Schemas['ProxyStatusData'];
export type ProxyListUpdateData = Schemas['ProxyListUpdateData'];
export type DomainsChangedData = Schemas['DomainsChangedData'];

/** One message from the server: the envelope of the event of type K (openapi.yaml's RealtimeEvent). */
export type RealtimeEvent<K extends RealtimeEventType = RealtimeEventType> = Extract<Schemas['RealtimeEvent'], { type: K }>;

/** The payload of each event type. */
export type RealtimeEventDataMap = { [K in RealtimeEventType]: RealtimeEvent<K>['data'] };

/** What a client may send. */
export type RealtimeClientMessage = Schemas['RealtimeClientMessage'];

export type RealtimeHandler<K extends RealtimeEventType = RealtimeEventType> = (event: RealtimeEvent<K>) => void;

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface RealtimeHealth {
  state: ConnectionState;
  /** The socket is open: events arrive, so polling may slow down. */
  healthy: boolean;
  /** Failed connection attempts since the last open socket. */
  failures: number;
  /** When the next reconnection attempt is due (ms since the epoch), if one is. */
  nextRetryAt: number | null;
  /** When the last event arrived (ms since the epoch). */
  lastEventAt: number | null;
}

/** What the polling hooks need of a realtime connection. */
export interface RealtimeLike {
  readonly healthy: boolean;
  readonly health: RealtimeHealth;
  onAny(handler: RealtimeHandler): () => void;
  onHealthChange(handler: (health: RealtimeHealth) => void): () => void;
}

/** The subset of the WebSocket constructor used (so tests can pass a fake). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: Event) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketFactory = new (url: string) => WebSocketLike;

export interface RealtimeBackoff {
  /** Delay before the first reconnection attempt. */
  initialMs: number;
  /** Longest delay between attempts. */
  maxMs: number;
  factor: number;
}

export const DEFAULT_REALTIME_BACKOFF: RealtimeBackoff = { initialMs: 1000, maxMs: 30_000, factor: 2 };

export interface RealtimeClientOptions {
  /**
   * Gets a single-use ticket (`POST /api/v1/ws/ticket`, see `createWebSocketTicket`) before
   * each connection attempt; the socket opens with `?ticket=`. Preferred over `token`: a
   * ticket works once, for 30 seconds, so the URL holds nothing worth stealing.
   */
  ticket?: (signal: AbortSignal) => Promise<string | null | undefined>;
  /**
   * The API token itself, sent as the access_token query parameter (browsers cannot set
   * headers on a WebSocket). Discouraged, kept for old callers: used only without `ticket`.
   */
  token?: string | (() => string | null | undefined);
  /** ws:// or wss:// URL of /api/v1/ws. Default: the page's own origin. */
  url?: string;
  /** Default: the global WebSocket. */
  WebSocket?: WebSocketFactory;
  backoff?: Partial<RealtimeBackoff>;
  /** Jitter source in [0, 1): each delay is scaled by 0.5 + 0.5·random(). Default Math.random. */
  random?: () => number;
}

/** ws(s)://<this page's host>/api/v1/ws */
export function defaultRealtimeUrl(): string {
  if (typeof window !== 'undefined' && window.location && /^https?:$/.test(window.location.protocol)) {
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${window.location.host}/api/v1/ws`;
  }
  return 'ws://127.0.0.1:8080/api/v1/ws';
}

const KNOWN_TYPES: ReadonlySet<string> = new Set(REALTIME_EVENT_TYPES);
const OPEN = 1;

/**
 * One shared connection to the event WebSocket: connects with a fresh ?ticket= (or, without
 * a ticket source, ?access_token=), reconnects with exponential backoff (and jitter), tracks
 * its health and dispatches events by type.
 */
export class RealtimeClient implements RealtimeLike {
  private readonly opts: RealtimeClientOptions;
  private readonly backoff: RealtimeBackoff;
  private socket: WebSocketLike | null = null;
  /** Aborts the ticket request of the attempt in progress, if one is. */
  private pendingTicket: AbortController | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  private subscription: string | null = null;
  private readonly handlers = new Map<RealtimeEventType | '*', Set<RealtimeHandler>>();
  private readonly healthHandlers = new Set<(h: RealtimeHealth) => void>();
  private current: RealtimeHealth = { state: 'idle', healthy: false, failures: 0, nextRetryAt: null, lastEventAt: null };

  constructor(options: RealtimeClientOptions) {
    this.opts = options;
    this.backoff = { ...DEFAULT_REALTIME_BACKOFF, ...options.backoff };
  }

  get health(): RealtimeHealth {
    return this.current;
  }

  get healthy(): boolean {
    return this.current.healthy;
  }

  get state(): ConnectionState {
    return this.current.state;
  }

  /** Opens the connection (and keeps it open until close()). Calling it again does nothing. */
  connect(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
  }

  /** Closes the connection for good: no reconnection. */
  close(): void {
    this.stopped = true;
    this.clearRetry();
    this.pendingTicket?.abort();
    this.pendingTicket = null;
    const s = this.socket;
    this.socket = null;
    if (s) {
      detach(s);
      try {
        s.close(1000, 'client closed');
      } catch {
        // already closed
      }
    }
    this.setHealth({ state: 'closed', healthy: false, nextRetryAt: null });
  }

  /** Calls handler for each event of the type; returns the unsubscribe function. */
  on<K extends RealtimeEventType>(type: K, handler: RealtimeHandler<K>): () => void {
    return this.addHandler(type, handler as unknown as RealtimeHandler);
  }

  /** Calls handler for every event; returns the unsubscribe function. */
  onAny(handler: RealtimeHandler): () => void {
    return this.addHandler('*', handler);
  }

  /** Calls handler on every change of the connection's health. */
  onHealthChange(handler: (health: RealtimeHealth) => void): () => void {
    this.healthHandlers.add(handler);
    return () => {
      this.healthHandlers.delete(handler);
    };
  }

  /**
   * Narrows the connection to one campaign (`subscribe`), or back to all of the user's
   * campaigns (null, `unsubscribe`). Remembered across reconnections.
   */
  subscribe(campaignId: string | null): void {
    if (this.subscription === campaignId) return;
    this.subscription = campaignId;
    this.sendSubscription(true);
  }

  private addHandler(key: RealtimeEventType | '*', handler: RealtimeHandler): () => void {
    let set = this.handlers.get(key);
    if (!set) {
      set = new Set();
      this.handlers.set(key, set);
    }
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  private url(credential: string): string {
    const base = this.opts.url ?? defaultRealtimeUrl();
    const sep = base.includes('?') ? '&' : '?';
    return `${base}${sep}${credential}`;
  }

  private open(): void {
    if (this.stopped) return;
    this.clearRetry();
    const Ctor = this.opts.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketFactory | undefined);
    const ticket = this.opts.ticket;
    const token = ticket ? null : typeof this.opts.token === 'function' ? this.opts.token() : this.opts.token;
    if (!Ctor || (!ticket && !token)) {
      this.setHealth({ state: 'closed', healthy: false, nextRetryAt: null });
      return;
    }
    this.setHealth({ state: this.current.failures > 0 ? 'reconnecting' : 'connecting', healthy: false, nextRetryAt: null });
    if (ticket) this.openWithTicket(Ctor, ticket);
    else if (token) this.dial(Ctor, this.url(`access_token=${encodeURIComponent(token)}`));
  }

  /** Gets a fresh ticket, then dials with it; a failure to get one is retried like a failed socket. */
  private openWithTicket(Ctor: WebSocketFactory, ticket: NonNullable<RealtimeClientOptions['ticket']>): void {
    const pending = new AbortController();
    this.pendingTicket = pending;
    ticket(pending.signal).then(
      (t) => {
        if (this.pendingTicket !== pending || this.stopped) return;
        this.pendingTicket = null;
        if (t) this.dial(Ctor, this.url(`ticket=${encodeURIComponent(t)}`));
        else this.setHealth({ state: 'closed', healthy: false, nextRetryAt: null });
      },
      () => {
        if (this.pendingTicket !== pending || this.stopped) return;
        this.pendingTicket = null;
        this.scheduleReconnect();
      },
    );
  }

  private dial(Ctor: WebSocketFactory, url: string): void {
    let socket: WebSocketLike;
    try {
      socket = new Ctor(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.setHealth({ state: 'open', healthy: true, failures: 0, nextRetryAt: null });
      this.sendSubscription(false);
    };
    socket.onmessage = (ev: MessageEvent) => {
      if (this.socket !== socket) return;
      this.receive(ev.data);
    };
    socket.onerror = () => {
      // A close event always follows; reconnection is handled there.
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      detach(socket);
      if (this.stopped) return;
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    const failures = this.current.failures + 1;
    const exp = Math.min(this.backoff.maxMs, this.backoff.initialMs * this.backoff.factor ** (failures - 1));
    const random = this.opts.random ?? Math.random;
    const delay = Math.round(exp * (0.5 + 0.5 * random()));
    this.setHealth({ state: 'reconnecting', healthy: false, failures, nextRetryAt: Date.now() + delay });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, delay);
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }

  private sendSubscription(explicit: boolean): void {
    const s = this.socket;
    if (!s || s.readyState !== OPEN) return;
    // A fresh connection carries every campaign of the user: "unsubscribe" is only worth
    // sending to undo an earlier "subscribe" on the same connection.
    if (!this.subscription && !explicit) return;
    const msg: RealtimeClientMessage = this.subscription ? { type: 'subscribe', campaign_id: this.subscription } : { type: 'unsubscribe' };
    try {
      s.send(JSON.stringify(msg));
    } catch {
      // the close event will follow
    }
  }

  private receive(raw: unknown): void {
    if (typeof raw !== 'string') return;
    let msg: unknown;
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    if (typeof msg !== 'object' || msg === null) return;
    const ev = msg as Partial<RealtimeEvent>;
    if (typeof ev.type !== 'string' || !KNOWN_TYPES.has(ev.type)) return;
    const event = {
      type: ev.type,
      seq: typeof ev.seq === 'number' ? ev.seq : 0,
      time: typeof ev.time === 'string' ? ev.time : '',
      campaign_id: typeof ev.campaign_id === 'string' ? ev.campaign_id : undefined,
      data: (typeof ev.data === 'object' && ev.data !== null ? ev.data : {}) as RealtimeEvent['data'],
    } as RealtimeEvent;
    this.setHealth({ lastEventAt: Date.now() }, false);
    for (const key of [event.type, '*'] as const) {
      const set = this.handlers.get(key);
      if (!set) continue;
      for (const h of [...set]) {
        try {
          h(event);
        } catch (err) {
          console.error('realtime handler failed', err);
        }
      }
    }
  }

  private setHealth(patch: Partial<RealtimeHealth>, notify = true): void {
    this.current = { ...this.current, ...patch };
    if (!notify) return;
    const h = this.current;
    for (const fn of [...this.healthHandlers]) {
      try {
        fn(h);
      } catch (err) {
        console.error('realtime health handler failed', err);
      }
    }
  }
}

function detach(s: WebSocketLike): void {
  s.onopen = null;
  s.onclose = null;
  s.onerror = null;
  s.onmessage = null;
}

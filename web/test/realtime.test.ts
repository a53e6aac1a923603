import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RealtimeClient, type RealtimeEvent, type RealtimeHealth, type WebSocketLike } from '../src/realtime';
import { CAMPAIGN } from './helpers';

class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen: ((ev: Event) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  closedByClient = false;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    this.closedByClient = true;
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  drop() {
    this.readyState = 3;
    this.onerror?.(new Event('error'));
    this.onclose?.(new CloseEvent('close', { code: 1006 }));
  }
  message(data: unknown) {
    this.onmessage?.(new MessageEvent('message', { data: typeof data === 'string' ? data : JSON.stringify(data) }));
  }
}

function last(): FakeSocket {
  return FakeSocket.all[FakeSocket.all.length - 1];
}

function client(token = 'secret token') {
  return new RealtimeClient({ token, url: 'ws://api.test/api/v1/ws', WebSocket: FakeSocket, random: () => 1 });
}

describe('RealtimeClient', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    FakeSocket.all = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('connects with ?access_token= and becomes healthy when open', () => {
    const rt = client();
    const health: RealtimeHealth[] = [];
    rt.onHealthChange((h) => health.push(h));
    rt.connect();
    expect(last().url).toBe('ws://api.test/api/v1/ws?access_token=secret%20token');
    expect(rt.healthy).toBe(false);
    expect(rt.state).toBe('connecting');
    last().open();
    expect(rt.healthy).toBe(true);
    expect(health.map((h) => h.state)).toEqual(['connecting', 'open']);
    rt.connect(); // idempotent
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('dispatches events by type and ignores unknown and deprecated ones', () => {
    const rt = client();
    const progress: RealtimeEvent[] = [];
    const all: RealtimeEvent[] = [];
    rt.on('campaign_progress', (e) => progress.push(e));
    const off = rt.onAny((e) => all.push(e));
    rt.connect();
    last().open();
    const env = { seq: 1, time: '2025-01-01T00:00:00.000Z', campaign_id: CAMPAIGN };
    last().message({ ...env, type: 'campaign_progress', data: { percent: 42, status: 'running' } });
    last().message({ ...env, type: 'domains_changed', data: { version: 3 } });
    for (const deprecated of ['domain_generated', 'dns.validation.result', 'http.validation.result', 'dashboard_activity']) {
      last().message({ ...env, type: deprecated, data: {} });
    }
    last().message('not json');
    last().message({ nope: true });
    expect(progress).toHaveLength(1);
    expect(progress[0].campaign_id).toBe(CAMPAIGN);
    expect((progress[0].data as { percent: number }).percent).toBe(42);
    expect(all.map((e) => e.type)).toEqual(['campaign_progress', 'domains_changed']);
    off();
    last().message({ ...env, type: 'system_notification', data: { level: 'info', message: 'hi' } });
    expect(all).toHaveLength(2);
  });

  it('a throwing handler does not stop the others', () => {
    const rt = client();
    const seen: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    rt.onAny(() => {
      throw new Error('boom');
    });
    rt.onAny((e) => seen.push(e.type));
    rt.connect();
    last().open();
    last().message({ type: 'phase_transition', seq: 1, time: '', campaign_id: CAMPAIGN, data: { from: 'generation', to: 'dns' } });
    expect(seen).toEqual(['phase_transition']);
    expect(spy).toHaveBeenCalled();
  });

  it('reconnects with exponential backoff, reset once open', () => {
    const rt = client();
    rt.connect();
    last().drop();
    expect(rt.healthy).toBe(false);
    expect(rt.state).toBe('reconnecting');
    expect(rt.health.failures).toBe(1);
    vi.advanceTimersByTime(999);
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(2);
    last().drop();
    vi.advanceTimersByTime(1999);
    expect(FakeSocket.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(3);
    last().drop();
    expect(rt.health.nextRetryAt).toBe(Date.now() + 4000);
    vi.advanceTimersByTime(4000);
    expect(FakeSocket.all).toHaveLength(4);
    last().open();
    expect(rt.healthy).toBe(true);
    expect(rt.health.failures).toBe(0);
    last().drop();
    vi.advanceTimersByTime(1000);
    expect(FakeSocket.all).toHaveLength(5);
  });

  it('caps the backoff', () => {
    const rt = new RealtimeClient({ token: 't', url: 'ws://x/ws', WebSocket: FakeSocket, random: () => 1, backoff: { initialMs: 1000, maxMs: 5000 } });
    rt.connect();
    for (let i = 0; i < 6; i++) {
      last().drop();
      vi.advanceTimersByTime(5000);
    }
    expect(FakeSocket.all).toHaveLength(7);
    last().drop();
    expect(rt.health.nextRetryAt).toBe(Date.now() + 5000);
  });

  it('close() stops for good', () => {
    const rt = client();
    rt.connect();
    last().open();
    const s = last();
    rt.close();
    expect(s.closedByClient).toBe(true);
    expect(rt.state).toBe('closed');
    expect(rt.healthy).toBe(false);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('sends subscribe, and again after a reconnection', () => {
    const rt = client();
    rt.connect();
    last().open();
    rt.subscribe(CAMPAIGN);
    expect(JSON.parse(last().sent[0])).toEqual({ type: 'subscribe', campaign_id: CAMPAIGN });
    last().drop();
    vi.advanceTimersByTime(1000);
    last().open();
    expect(JSON.parse(last().sent[0])).toEqual({ type: 'subscribe', campaign_id: CAMPAIGN });
    rt.subscribe(null);
    expect(JSON.parse(last().sent[1])).toEqual({ type: 'unsubscribe' });
  });

  it('does not connect without a token', () => {
    const rt = new RealtimeClient({ token: () => null, url: 'ws://x/ws', WebSocket: FakeSocket });
    rt.connect();
    expect(FakeSocket.all).toHaveLength(0);
    expect(rt.state).toBe('closed');
  });

  describe('with tickets', () => {
    function ticketClient(ticket: (signal: AbortSignal) => Promise<string | null>) {
      return new RealtimeClient({ ticket, token: 'never used', url: 'ws://api.test/api/v1/ws', WebSocket: FakeSocket, random: () => 1 });
    }

    it('connects with a fresh ?ticket= each time, never with the token', async () => {
      let n = 0;
      const ticket = vi.fn(async () => `tk ${++n}`);
      const rt = ticketClient(ticket);
      rt.connect();
      expect(rt.state).toBe('connecting');
      await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(1));
      expect(last().url).toBe('ws://api.test/api/v1/ws?ticket=tk%201');
      last().open();
      expect(rt.healthy).toBe(true);
      last().drop();
      vi.advanceTimersByTime(1000);
      await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(2));
      expect(last().url).toBe('ws://api.test/api/v1/ws?ticket=tk%202');
      expect(ticket).toHaveBeenCalledTimes(2);
      expect(FakeSocket.all.some((s) => s.url.includes('access_token'))).toBe(false);
    });

    it('retries with backoff when no ticket can be had', async () => {
      const ticket = vi.fn<(signal: AbortSignal) => Promise<string | null>>(async () => {
        throw new Error('server down');
      });
      const rt = ticketClient(ticket);
      rt.connect();
      await vi.waitFor(() => expect(rt.state).toBe('reconnecting'));
      expect(rt.health.failures).toBe(1);
      expect(FakeSocket.all).toHaveLength(0);
      ticket.mockImplementation(async () => 'tk');
      vi.advanceTimersByTime(1000);
      await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(1));
      expect(last().url).toBe('ws://api.test/api/v1/ws?ticket=tk');
    });

    it('opens nothing once closed while a ticket is on its way', async () => {
      let resolve: (t: string) => void = () => {};
      let aborted = false;
      const rt = ticketClient(
        (signal) =>
          new Promise((r) => {
            resolve = r;
            signal.addEventListener('abort', () => (aborted = true));
          }),
      );
      rt.connect();
      rt.close();
      expect(aborted).toBe(true);
      resolve('late');
      await Promise.resolve();
      await Promise.resolve();
      expect(FakeSocket.all).toHaveLength(0);
      expect(rt.state).toBe('closed');
    });
  });
});

import { vi } from 'vitest';
import { createApiClient, type ApiClient } from '../src/api/client';
import type { Campaign, Domain, DomainPage, ResolverStats, StatusSummary } from '../src/api/types';
import type { RealtimeEvent, RealtimeEventType, RealtimeHandler, RealtimeHealth, RealtimeLike } from '../src/realtime';

export const BASE = 'http://api.test';
export const CAMPAIGN = '11111111-1111-4111-8111-111111111111';
export const OTHER_CAMPAIGN = '22222222-2222-4222-8222-222222222222';

export function json(body: unknown, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  return new Response(JSON.stringify(body), {
    status: init.status ?? 200,
    headers: { 'Content-Type': 'application/json', ...init.headers },
  });
}

export function problem(status: number, body: Record<string, unknown> = {}, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ type: 'about:blank', title: `HTTP ${status}`, status, ...body }), {
    status,
    headers: { 'Content-Type': 'application/problem+json', ...headers },
  });
}

export function makeDomain(i: number, patch: Partial<Domain> = {}): Domain {
  return {
    offset_index: i,
    name: `dom${i}.com`,
    tld: '.com',
    generated_at: '2025-01-01T00:00:00Z',
    status: 'generated',
    dns_status: 'pending',
    http_status: 'pending',
    lead_status: 'pending',
    lead_score: 0,
    ...patch,
  };
}

export function makeDomains(n: number): Domain[] {
  return Array.from({ length: n }, (_, i) => makeDomain(i));
}

export function makeSummary(patch: Partial<StatusSummary> = {}): StatusSummary {
  const zero = { generated: 0, validated: 0, failed: 0 };
  return {
    campaign_id: CAMPAIGN,
    status: 'running',
    current_phase: 'dns',
    total_domains: 100,
    generated: 100,
    overall: { generated: 100, validated: 0, failed: 0 },
    dns: { generated: 100, validated: 0, failed: 0 },
    http: { ...zero, skipped: 0 },
    analysis: zero,
    leads: 0,
    progress: { processed: 100, total: 300, percent: 33.3 },
    updated_at: '2025-01-01T00:00:00Z',
    ...patch,
  };
}

export function makeResolver(address: string, patch: Partial<ResolverStats> = {}): ResolverStats {
  return { address, state: 'active', queries: 0, answers: 0, nxdomain: 0, timeouts: 0, errors: 0, latency_p50_ms: null, ...patch };
}

export function makeCampaign(patch: Partial<Campaign> = {}): Campaign {
  return {
    id: CAMPAIGN,
    name: 'widgets',
    description: '',
    status: 'draft',
    current_phase: null,
    config: {
      generation: { pattern_type: 'prefix', constant_string: 'widgets', character_set: 'abc', variable_length: 2, tlds: ['.com'], max_domains: 9 },
      dns: {},
      http: {},
      analysis: {},
    },
    total_domains: 9,
    created_at: '2025-01-01T00:00:00Z',
    updated_at: '2025-01-01T00:00:00Z',
    ...patch,
  };
}

function etagOf(body: string): string {
  let h = 0;
  for (let i = 0; i < body.length; i++) h = (h * 31 + body.charCodeAt(i)) | 0;
  return `"${(h >>> 0).toString(16)}"`;
}

/** An answer with an ETag, or 304 when the request's If-None-Match matches it. */
export function conditionalJson(req: Request, body: unknown): Response {
  const text = JSON.stringify(body);
  const etag = etagOf(text);
  if (req.headers.get('If-None-Match') === etag) {
    return new Response(null, { status: 304, headers: { ETag: etag } });
  }
  return new Response(text, { status: 200, headers: { 'Content-Type': 'application/json', ETag: etag } });
}

type Override = Response | Error | ((req: Request) => Response | Promise<Response>);

/**
 * An in-memory DomainFlow API for one campaign: domain pages (status, phase, q, cursor,
 * limit), the status summary, with ETags and 304s, and the resolvers (no ETag, as served). `next(...)` queues answers that replace
 * the next requests' (an Error makes fetch reject, like a server that is down).
 */
export class FakeApi {
  domains: Domain[];
  summary: StatusSummary;
  campaign: Campaign;
  resolvers: ResolverStats[] = [];
  requests: Request[] = [];
  private overrides: Override[] = [];
  readonly fetch = vi.fn((req: Request) => this.handle(req));

  constructor(domains: Domain[] = makeDomains(120), summary: StatusSummary = makeSummary(), campaign: Campaign = makeCampaign()) {
    this.domains = domains;
    this.summary = summary;
    this.campaign = campaign;
  }

  client(token = 'tok'): ApiClient {
    return createApiClient({ baseUrl: BASE, token, fetch: this.fetch as unknown as typeof fetch });
  }

  next(...answers: Override[]): void {
    this.overrides.push(...answers);
  }

  /** Requests whose path ends with suffix. */
  calls(suffix: string): URL[] {
    return this.requests.map((r) => new URL(r.url)).filter((u) => u.pathname.endsWith(suffix));
  }

  async handle(req: Request): Promise<Response> {
    this.requests.push(req);
    const o = this.overrides.shift();
    if (o instanceof Error) throw o;
    if (o instanceof Response) return o;
    if (typeof o === 'function') return o(req);
    const url = new URL(req.url);
    const path = url.pathname;
    if (path.endsWith('/campaigns/bulk/enriched-data') && req.method === 'POST') {
      return json({ items: [{ campaign: this.campaign, summary: this.summary, domains: this.page(new URL('http://x/?limit=1')) }], not_found: [] });
    }
    if (path.endsWith('/campaigns') && req.method === 'GET') {
      return conditionalJson(req, { items: [this.campaign], limit: 100, offset: 0, total: 1, has_more: false });
    }
    if (path.endsWith('/domains/status')) return conditionalJson(req, this.summary);
    if (path.endsWith('/resolvers')) return json({ items: this.resolvers });
    if (path.endsWith('/domains')) return conditionalJson(req, this.page(url));
    if (/\/campaigns\/[^/]+$/.test(path)) return conditionalJson(req, this.campaign);
    return problem(404, { code: 'not_found', detail: `no route ${path}` });
  }

  page(url: URL): DomainPage {
    const p = url.searchParams;
    const limit = Number(p.get('limit') ?? 50);
    const status = p.get('status');
    const q = p.get('q');
    const cursor = p.get('cursor');
    let rows = this.domains.filter((d) => (!status || d.status === status) && (!q || d.name.includes(q)));
    const total = rows.length;
    if (cursor) {
      const after = Number(cursor.replace(/^c/, ''));
      rows = rows.filter((d) => d.offset_index > after);
    }
    const items = rows.slice(0, limit);
    const hasMore = rows.length > limit;
    return {
      items,
      limit,
      has_more: hasMore,
      next_cursor: hasMore ? `c${items[items.length - 1].offset_index}` : null,
      total,
    };
  }
}

/** A realtime connection driven by the test. */
export class FakeRealtime implements RealtimeLike {
  private anyHandlers = new Set<RealtimeHandler>();
  private healthHandlers = new Set<(h: RealtimeHealth) => void>();
  private seq = 0;
  health: RealtimeHealth;

  constructor(healthy = true) {
    this.health = { state: healthy ? 'open' : 'reconnecting', healthy, failures: 0, nextRetryAt: null, lastEventAt: null };
  }

  get healthy(): boolean {
    return this.health.healthy;
  }

  get listeners(): number {
    return this.anyHandlers.size;
  }

  onAny(handler: RealtimeHandler): () => void {
    this.anyHandlers.add(handler);
    return () => this.anyHandlers.delete(handler);
  }

  onHealthChange(handler: (h: RealtimeHealth) => void): () => void {
    this.healthHandlers.add(handler);
    return () => this.healthHandlers.delete(handler);
  }

  emit(type: RealtimeEventType, campaignId: string | undefined, data: Record<string, unknown> = {}): void {
    const ev = { type, seq: ++this.seq, time: new Date().toISOString(), campaign_id: campaignId, data } as unknown as RealtimeEvent;
    for (const h of [...this.anyHandlers]) h(ev);
  }

  setHealthy(healthy: boolean): void {
    this.health = { ...this.health, healthy, state: healthy ? 'open' : 'reconnecting' };
    for (const h of [...this.healthHandlers]) h(this.health);
  }
}

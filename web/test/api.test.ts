// @vitest-environment node
import { describe, expect, it, vi } from 'vitest';
import { conditional, createApiClient, unwrap } from '../src/api/client';
import { ApiError, apiErrorFromResponse, networkError, parseRetryAfter } from '../src/api/errors';
import { BASE, json, problem } from './helpers';

describe('ApiError', () => {
  it('is made from a problem+json answer', async () => {
    const res = problem(
      400,
      {
        type: 'https://domainflow.dev/problems/invalid',
        title: 'Bad Request',
        code: 'invalid',
        detail: 'The request is not valid.',
        errors: [
          { pointer: '/generation/variable_length', detail: 'must be at least 1' },
          { parameter: 'limit', detail: 'must be at most 1000' },
          { nonsense: true },
        ],
      },
      { 'X-RateLimit-Remaining': '9' },
    );
    const err = apiErrorFromResponse(res, await res.json());
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(400);
    expect(err.code).toBe('invalid');
    expect(err.detail).toBe('The request is not valid.');
    expect(err.errors).toEqual([
      { pointer: '/generation/variable_length', detail: 'must be at least 1' },
      { parameter: 'limit', detail: 'must be at most 1000' },
    ]);
    expect(err.fieldErrors()).toEqual({ '/generation/variable_length': ['must be at least 1'], '?limit': ['must be at most 1000'] });
    expect(err.retryAfterSeconds).toBeNull();
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('5', now)).toBe(5);
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:12 GMT', now)).toBe(12);
    expect(parseRetryAfter('later', now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
    const err = apiErrorFromResponse(problem(429, { code: 'rate_limited' }, { 'Retry-After': '3' }), { code: 'rate_limited' });
    expect(err.retryAfterSeconds).toBe(3);
    expect(err.isRateLimited).toBe(true);
  });

  it('falls back to the status when the body is no problem document', () => {
    const err = apiErrorFromResponse(new Response('upstream broke', { status: 502, statusText: 'Bad Gateway' }), 'upstream broke');
    expect(err.code).toBe('unavailable');
    expect(err.title).toBe('Bad Gateway');
    expect(err.detail).toBe('upstream broke');
    expect(err.isUnavailable).toBe(true);
    expect(networkError(new TypeError('x')).status).toBe(0);
  });
});

describe('createApiClient', () => {
  it('sends the bearer token read at each request, and unwraps data', async () => {
    let token = 'one';
    const fetch = vi.fn(async (_req: Request) => json({ items: [], limit: 1, offset: 0, total: 0, has_more: false }));
    const client = createApiClient({ baseUrl: BASE, token: () => token, fetch: fetch as unknown as typeof globalThis.fetch });
    const page = await unwrap(client.GET('/api/v1/campaigns', { params: { query: { limit: 1 } } }));
    expect(page.total).toBe(0);
    token = 'two';
    await unwrap(client.GET('/api/v1/campaigns'));
    expect(fetch.mock.calls[0][0].headers.get('Authorization')).toBe('Bearer one');
    expect(fetch.mock.calls[1][0].headers.get('Authorization')).toBe('Bearer two');
    expect(fetch.mock.calls[0][0].url).toBe(`${BASE}/api/v1/campaigns?limit=1`);
  });

  it('throws a typed ApiError for a problem answer, and reports 401', async () => {
    const onUnauthorized = vi.fn();
    const fetch = vi.fn(async () => problem(401, { code: 'unauthorized', title: 'Unauthorized', detail: 'The token is not valid.' }));
    const client = createApiClient({ baseUrl: BASE, token: 'bad', fetch: fetch as unknown as typeof globalThis.fetch, onUnauthorized });
    const err = await unwrap(client.GET('/api/v1/campaigns')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    expect((err as ApiError).detail).toBe('The token is not valid.');
    expect(onUnauthorized).toHaveBeenCalledOnce();
    expect(onUnauthorized.mock.calls[0][0].code).toBe('unauthorized');
  });

  it('turns a refused connection into status 0', async () => {
    const client = createApiClient({ baseUrl: BASE, token: 't', fetch: (async () => { throw new TypeError('fetch failed'); }) as typeof globalThis.fetch });
    const err = (await unwrap(client.GET('/api/v1/campaigns')).catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(0);
    expect(err.code).toBe('network');
  });

  it('conditional() answers notModified for a 304', async () => {
    const fetch = vi.fn(async () => new Response(null, { status: 304, headers: { ETag: '"abc"' } }));
    const client = createApiClient({ baseUrl: BASE, token: 't', fetch: fetch as unknown as typeof globalThis.fetch });
    const r = await conditional(
      client.GET('/api/v1/campaigns/{campaignId}', { params: { path: { campaignId: 'x' }, header: { 'If-None-Match': '"abc"' } } }),
    );
    expect(r).toEqual({ notModified: true, etag: '"abc"' });
  });
});

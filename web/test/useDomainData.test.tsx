import { renderHook } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { useDomainData, type UseDomainDataOptions } from '../src/hooks/useDomainData';
import { POLLING_INTERVALS } from '../src/hooks/polling';
import { CAMPAIGN, FakeApi, FakeRealtime, OTHER_CAMPAIGN, makeDomain, problem } from './helpers';
import { tick, useFakeClock } from './timers';

function setup(api: FakeApi, options: UseDomainDataOptions = {}, campaignId: string = CAMPAIGN) {
  const client = api.client();
  return renderHook((props: { id: string; options: UseDomainDataOptions }) => useDomainData(props.id, { client, realtime: null, ...props.options }), {
    initialProps: { id: campaignId, options },
  });
}

describe('useDomainData', () => {
  let api: FakeApi;
  beforeEach(() => {
    useFakeClock();
    api = new FakeApi();
  });

  it('loads the first page at once, with the token', async () => {
    const { result } = setup(api);
    expect(result.current.loading).toBe(true);
    await tick();
    expect(result.current.loading).toBe(false);
    expect(result.current.domains).toHaveLength(50);
    expect(result.current.domains[0].name).toBe('dom0.com');
    expect(result.current.total).toBe(120);
    expect(result.current.hasMore).toBe(true);
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0].headers.get('Authorization')).toBe('Bearer tok');
    const url = new URL(api.requests[0].url);
    expect(url.pathname).toBe(`/api/v1/campaigns/${CAMPAIGN}/domains`);
    expect(url.searchParams.get('limit')).toBe('50');
    expect(url.searchParams.has('cursor')).toBe(false);
  });

  it('polls every ACTIVE_CAMPAIGN interval by default', async () => {
    setup(api);
    await tick();
    expect(api.requests).toHaveLength(1);
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN - 1);
    expect(api.requests).toHaveLength(1);
    await tick(1);
    expect(api.requests).toHaveLength(2);
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
    expect(api.requests).toHaveLength(3);
  });

  it('polls on a configured interval, and changing it keeps the data', async () => {
    const { result, rerender } = setup(api, { interval: 2000 });
    await tick();
    await tick(2000);
    expect(api.requests).toHaveLength(2);
    const before = result.current.domains;
    rerender({ id: CAMPAIGN, options: { interval: 5000 } });
    await tick(2000);
    expect(api.requests).toHaveLength(2);
    await tick(3000);
    expect(api.requests).toHaveLength(3);
    expect(result.current.domains).toBe(before);
  });

  it('sends If-None-Match; a 304 keeps the data (same object)', async () => {
    const { result } = setup(api);
    await tick();
    const first = result.current.domains;
    const etag = (await api.fetch.mock.results[0].value as Response).headers.get('ETag');
    expect(etag).toBeTruthy();
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
    expect(api.requests).toHaveLength(2);
    expect(api.requests[1].headers.get('If-None-Match')).toBe(etag);
    expect((await api.fetch.mock.results[1].value as Response).status).toBe(304);
    expect(result.current.domains).toBe(first);
    expect(result.current.error).toBeNull();
    expect(result.current.lastUpdated).not.toBeNull();
  });

  it('replaces the data when a poll answers 200', async () => {
    const { result } = setup(api);
    await tick();
    api.domains[0] = makeDomain(0, { dns_status: 'ok', status: 'validated' });
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
    expect(result.current.domains[0].dns_status).toBe('ok');
  });

  it('does not poll on the interval with enablePolling false', async () => {
    setup(api, { enablePolling: false });
    await tick();
    await tick(POLLING_INTERVALS.COMPLETED_CAMPAIGN * 2);
    expect(api.requests).toHaveLength(1);
  });

  it('Load More appends the next page by cursor', async () => {
    const { result } = setup(api);
    await tick();
    await tick();
    await result.current.loadMore();
    await tick();
    expect(api.requests).toHaveLength(2);
    const url = new URL(api.requests[1].url);
    expect(url.searchParams.get('cursor')).toBe('c49');
    expect(url.searchParams.get('limit')).toBe('50');
    expect(result.current.domains).toHaveLength(100);
    expect(result.current.domains[50].name).toBe('dom50.com');
    expect(result.current.pageCount).toBe(2);
    expect(result.current.hasMore).toBe(true);

    await result.current.loadMore();
    await tick();
    expect(result.current.domains).toHaveLength(120);
    expect(result.current.hasMore).toBe(false);
    // Nothing more to load: no request.
    await result.current.loadMore();
    await tick();
    expect(api.requests).toHaveLength(3);
  });

  it('a poll re-reads every loaded page, each a 304 when unchanged', async () => {
    const { result } = setup(api);
    await tick();
    await result.current.loadMore();
    await tick();
    const loaded = result.current.domains;
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
    expect(api.requests).toHaveLength(4);
    const [p1, p2] = api.requests.slice(2);
    expect(new URL(p1.url).searchParams.has('cursor')).toBe(false);
    expect(new URL(p2.url).searchParams.get('cursor')).toBe('c49');
    expect(p1.headers.get('If-None-Match')).toBeTruthy();
    expect(p2.headers.get('If-None-Match')).toBeTruthy();
    expect(result.current.domains).toBe(loaded);
  });

  it('a filter change resets the list and reads the first page with the filter', async () => {
    api.domains = api.domains.map((d) => (d.offset_index % 3 === 0 ? { ...d, status: 'failed' } : d));
    const { result, rerender } = setup(api);
    await tick();
    await result.current.loadMore();
    await tick();
    expect(result.current.domains).toHaveLength(100);

    rerender({ id: CAMPAIGN, options: { status: 'failed', phase: 'dns' } });
    expect(result.current.domains).toHaveLength(0);
    expect(result.current.loading).toBe(true);
    await tick();
    const url = new URL(api.requests[api.requests.length - 1].url);
    expect(url.searchParams.get('status')).toBe('failed');
    expect(url.searchParams.get('phase')).toBe('dns');
    expect(url.searchParams.has('cursor')).toBe(false);
    expect(api.requests[api.requests.length - 1].headers.get('If-None-Match')).toBeNull();
    expect(result.current.domains).toHaveLength(40);
    expect(result.current.domains.every((d) => d.status === 'failed')).toBe(true);
    expect(result.current.total).toBe(40);
    expect(result.current.pageCount).toBe(1);
  });

  it('searches with q (trimmed) and resets on a new search', async () => {
    const { result, rerender } = setup(api);
    await tick();
    rerender({ id: CAMPAIGN, options: { q: '  dom11 ' } });
    await tick();
    const url = new URL(api.requests[api.requests.length - 1].url);
    expect(url.searchParams.get('q')).toBe('dom11');
    expect(result.current.domains.map((d) => d.name)).toEqual(['dom11.com', 'dom110.com', 'dom111.com', 'dom112.com', 'dom113.com', 'dom114.com', 'dom115.com', 'dom116.com', 'dom117.com', 'dom118.com', 'dom119.com']);
  });

  it('refresh() polls at once', async () => {
    const { result } = setup(api);
    await tick();
    await result.current.refresh();
    await tick();
    expect(api.requests).toHaveLength(2);
  });

  it('on a network error: error state, retries with exponential backoff, then recovers', async () => {
    api.next(new TypeError('fetch failed'), new TypeError('fetch failed'), new TypeError('fetch failed'));
    const { result } = setup(api);
    await tick();
    expect(result.current.error?.status).toBe(0);
    expect(result.current.error?.code).toBe('network');
    expect(result.current.failureCount).toBe(1);
    expect(result.current.retryInSeconds).toBe(1);
    expect(result.current.loading).toBe(false);

    await tick(1000); // retry 1 fails → 2 s
    expect(api.requests).toHaveLength(2);
    expect(result.current.failureCount).toBe(2);
    expect(result.current.retryInSeconds).toBe(2);
    await tick(1000);
    expect(result.current.retryInSeconds).toBe(1);
    expect(api.requests).toHaveLength(2);
    await tick(1000); // retry 2 fails → 4 s
    expect(api.requests).toHaveLength(3);
    expect(result.current.retryInSeconds).toBe(4);
    await tick(3999);
    expect(api.requests).toHaveLength(3);
    await tick(1); // retry 3 succeeds
    expect(api.requests).toHaveLength(4);
    expect(result.current.error).toBeNull();
    expect(result.current.retryInSeconds).toBeNull();
    expect(result.current.failureCount).toBe(0);
    expect(result.current.domains).toHaveLength(50);
    // Back to the normal cadence.
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
    expect(api.requests).toHaveLength(5);
  });

  it('on 429 honours Retry-After and exposes the countdown', async () => {
    const { result } = setup(api);
    await tick();
    const data = result.current.domains;
    api.next(problem(429, { code: 'rate_limited', title: 'Too Many Requests', detail: 'Slow down.' }, { 'Retry-After': '5', 'X-RateLimit-Remaining': '0' }));
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
    expect(result.current.error?.status).toBe(429);
    expect(result.current.error?.code).toBe('rate_limited');
    expect(result.current.error?.detail).toBe('Slow down.');
    expect(result.current.error?.retryAfterSeconds).toBe(5);
    expect(result.current.retryInSeconds).toBe(5);
    expect(result.current.domains).toBe(data); // the data stays
    await tick(1000);
    expect(result.current.retryInSeconds).toBe(4);
    await tick(3000);
    expect(result.current.retryInSeconds).toBe(1);
    expect(api.requests).toHaveLength(2);
    await tick(1000);
    expect(api.requests).toHaveLength(3);
    expect(result.current.error).toBeNull();
  });

  it('retry() cuts the backoff short', async () => {
    api.next(problem(503, { code: 'unavailable' }, { 'Retry-After': '30' }));
    const { result } = setup(api);
    await tick();
    expect(result.current.retryInSeconds).toBe(30);
    result.current.retry();
    await tick();
    expect(api.requests).toHaveLength(2);
    expect(result.current.error).toBeNull();
    expect(result.current.domains).toHaveLength(50);
  });

  it('a failed Load More shows the error and backs off', async () => {
    const { result } = setup(api);
    await tick();
    api.next(problem(429, { code: 'rate_limited' }, { 'Retry-After': '3' }));
    await result.current.loadMore();
    await tick();
    expect(result.current.error?.status).toBe(429);
    expect(result.current.retryInSeconds).toBe(3);
    expect(result.current.domains).toHaveLength(50);
    await tick(3000);
    expect(result.current.error).toBeNull();
  });

  describe('with a realtime connection', () => {
    it('polls at once on domains_changed for this campaign only', async () => {
      const rt = new FakeRealtime(true);
      setup(api, { realtime: rt });
      await tick();
      expect(api.requests).toHaveLength(1);
      await tick(2000);
      rt.emit('domains_changed', OTHER_CAMPAIGN, { version: 2 });
      rt.emit('campaign_progress', CAMPAIGN, { percent: 10 });
      await tick();
      expect(api.requests).toHaveLength(1);
      rt.emit('domains_changed', CAMPAIGN, { version: 3 });
      await tick();
      expect(api.requests).toHaveLength(2);
    });

    it('throttles a burst of hints to one poll per gap', async () => {
      const rt = new FakeRealtime(true);
      setup(api, { realtime: rt });
      await tick();
      rt.emit('domains_changed', CAMPAIGN); // right after the first poll: waits for the gap
      rt.emit('domains_changed', CAMPAIGN);
      await tick(999);
      expect(api.requests).toHaveLength(1);
      await tick(1);
      expect(api.requests).toHaveLength(2);
      await tick(5000);
      rt.emit('domains_changed', CAMPAIGN);
      rt.emit('domains_changed', CAMPAIGN);
      await tick();
      expect(api.requests).toHaveLength(3);
    });

    it('polls 3× less often while the socket is healthy and quiet, at the normal rate when it is not', async () => {
      const rt = new FakeRealtime(true);
      setup(api, { realtime: rt });
      await tick();
      await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
      expect(api.requests).toHaveLength(1);
      await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN * 2);
      expect(api.requests).toHaveLength(2);

      // The socket drops: overdue by the normal interval → poll now, then every 10 s.
      await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN + 500);
      expect(api.requests).toHaveLength(2);
      rt.setHealthy(false);
      await tick();
      expect(api.requests).toHaveLength(3);
      await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
      expect(api.requests).toHaveLength(4);

      // Back: poll once (events may have been missed; the last poll was just now, so after
      // the hint gap), then the slow cadence again.
      rt.setHealthy(true);
      await tick();
      expect(api.requests).toHaveLength(4);
      await tick(1000);
      expect(api.requests).toHaveLength(5);
      await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN * 3 - 1);
      expect(api.requests).toHaveLength(5);
      await tick(1);
      expect(api.requests).toHaveLength(6);
    });

    it('ignores hints while backing off from an error', async () => {
      const rt = new FakeRealtime(true);
      api.next(problem(429, { code: 'rate_limited' }, { 'Retry-After': '10' }));
      setup(api, { realtime: rt });
      await tick();
      rt.emit('domains_changed', CAMPAIGN);
      await tick(2000);
      expect(api.requests).toHaveLength(1);
      await tick(8000);
      expect(api.requests).toHaveLength(2);
    });

    it('stops listening when unmounted', async () => {
      const rt = new FakeRealtime(true);
      const { unmount } = setup(api, { realtime: rt });
      await tick();
      expect(rt.listeners).toBe(1);
      unmount();
      expect(rt.listeners).toBe(0);
      rt.emit('domains_changed', CAMPAIGN);
      await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN * 5);
      expect(api.requests).toHaveLength(1);
    });
  });
});

import { renderHook } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { POLLING_INTERVALS } from '../src/hooks/polling';
import { useDomainStatusSummary } from '../src/hooks/useDomainStatusSummary';
import { CAMPAIGN, FakeApi, FakeRealtime, makeSummary, problem } from './helpers';
import { tick, useFakeClock } from './timers';

describe('useDomainStatusSummary', () => {
  let api: FakeApi;
  beforeEach(() => {
    useFakeClock();
    api = new FakeApi();
  });

  it('reads GET …/domains/status and polls it with If-None-Match', async () => {
    const client = api.client();
    const { result } = renderHook(() => useDomainStatusSummary(CAMPAIGN, true, { client, realtime: null }));
    await tick();
    expect(new URL(api.requests[0].url).pathname).toBe(`/api/v1/campaigns/${CAMPAIGN}/domains/status`);
    const first = result.current.summary;
    expect(first?.dns.generated).toBe(100);
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
    expect(api.requests).toHaveLength(2);
    expect(api.requests[1].headers.get('If-None-Match')).toMatch(/^".+"$/);
    expect(result.current.summary).toBe(first); // 304: same object

    api.summary = makeSummary({ dns: { generated: 40, validated: 50, failed: 10 } });
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
    expect(result.current.summary?.dns.validated).toBe(50);
  });

  it('does not poll on the interval when polling is off', async () => {
    const client = api.client();
    renderHook(() => useDomainStatusSummary(CAMPAIGN, false, { client, realtime: null }));
    await tick();
    await tick(POLLING_INTERVALS.COMPLETED_CAMPAIGN * 3);
    expect(api.requests).toHaveLength(1);
  });

  it('backs off on 429 with the Retry-After countdown, keeping the summary', async () => {
    const client = api.client();
    const { result } = renderHook(() => useDomainStatusSummary(CAMPAIGN, true, { client, realtime: null }));
    await tick();
    api.next(problem(429, { code: 'rate_limited' }, { 'Retry-After': '7' }));
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
    expect(result.current.error?.status).toBe(429);
    expect(result.current.retryInSeconds).toBe(7);
    expect(result.current.summary).not.toBeNull();
    await tick(6000);
    expect(result.current.retryInSeconds).toBe(1);
    expect(api.requests).toHaveLength(2);
    await tick(1000);
    expect(api.requests).toHaveLength(3);
    expect(result.current.error).toBeNull();
  });

  it('polls at once on domains_changed and slowly while the socket is healthy', async () => {
    const rt = new FakeRealtime(true);
    const client = api.client();
    renderHook(() => useDomainStatusSummary(CAMPAIGN, true, { client, realtime: rt }));
    await tick();
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN * 2);
    expect(api.requests).toHaveLength(1);
    rt.emit('domains_changed', CAMPAIGN, { version: 7 });
    await tick();
    expect(api.requests).toHaveLength(2);
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN * 3);
    expect(api.requests).toHaveLength(3);
  });

  it('fetches nothing without a campaign id', async () => {
    const client = api.client();
    const { result } = renderHook(() => useDomainStatusSummary(null, true, { client, realtime: null }));
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
    expect(api.requests).toHaveLength(0);
    expect(result.current.summary).toBeNull();
    expect(result.current.loading).toBe(false);
  });
});

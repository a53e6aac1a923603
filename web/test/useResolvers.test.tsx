import { renderHook } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { POLLING_INTERVALS } from '../src/hooks/polling';
import { RESOLVERS_MIN_HINT_GAP_MS, useResolvers } from '../src/hooks/useResolvers';
import { CAMPAIGN, FakeApi, FakeRealtime, makeResolver, OTHER_CAMPAIGN, problem } from './helpers';
import { tick, useFakeClock } from './timers';

describe('useResolvers', () => {
  let api: FakeApi;
  beforeEach(() => {
    useFakeClock();
    api = new FakeApi();
    api.resolvers = [makeResolver('127.0.0.1:53', { queries: 10, answers: 8 }), makeResolver('127.0.0.2:53', { state: 'demoted' })];
  });

  it('reads GET …/resolvers and keeps the same list while the answer is unchanged', async () => {
    const client = api.client();
    const { result } = renderHook(() => useResolvers(CAMPAIGN, { client, realtime: null }));
    await tick();
    expect(api.calls('/resolvers').map((u) => u.pathname)).toEqual([`/api/v1/campaigns/${CAMPAIGN}/resolvers`]);
    const first = result.current.resolvers;
    expect(first?.map((r) => [r.address, r.state])).toEqual([
      ['127.0.0.1:53', 'active'],
      ['127.0.0.2:53', 'demoted'],
    ]);
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
    expect(api.requests).toHaveLength(2);
    expect(result.current.resolvers).toBe(first); // same body: same object

    api.resolvers = [makeResolver('127.0.0.1:53', { queries: 20, answers: 15 })];
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
    expect(result.current.resolvers?.[0].queries).toBe(20);
  });

  it('does not poll on the interval when polling is off (an ended campaign)', async () => {
    const client = api.client();
    renderHook(() => useResolvers(CAMPAIGN, { client, realtime: null, enablePolling: false }));
    await tick();
    await tick(POLLING_INTERVALS.COMPLETED_CAMPAIGN * 3);
    expect(api.requests).toHaveLength(1);
  });

  it('reads again on the campaign’s DNS progress, phase change and completion, at most every 5 s', async () => {
    const rt = new FakeRealtime(true);
    const client = api.client();
    renderHook(() => useResolvers(CAMPAIGN, { client, realtime: rt, enablePolling: false }));
    await tick();
    expect(api.requests).toHaveLength(1);

    // Not for another campaign, nor for progress outside the DNS phase.
    rt.emit('campaign_progress', OTHER_CAMPAIGN, { status: 'running', current_phase: 'dns', percent: 10 });
    await tick(RESOLVERS_MIN_HINT_GAP_MS);
    rt.emit('campaign_progress', CAMPAIGN, { status: 'running', current_phase: 'http', percent: 60 });
    await tick(RESOLVERS_MIN_HINT_GAP_MS);
    expect(api.requests).toHaveLength(1);

    rt.emit('campaign_progress', CAMPAIGN, { status: 'running', current_phase: 'dns', percent: 20 });
    await tick();
    expect(api.requests).toHaveLength(2);
    // Progress ticks in a burst: one more read once the gap has passed.
    rt.emit('campaign_progress', CAMPAIGN, { status: 'running', current_phase: 'dns', percent: 21 });
    rt.emit('campaign_progress', CAMPAIGN, { status: 'running', current_phase: 'dns', percent: 22 });
    await tick(1000);
    expect(api.requests).toHaveLength(2);
    await tick(RESOLVERS_MIN_HINT_GAP_MS);
    expect(api.requests).toHaveLength(3);

    await tick(RESOLVERS_MIN_HINT_GAP_MS);
    rt.emit('phase_transition', CAMPAIGN, { from: 'dns', to: 'http' });
    await tick();
    expect(api.requests).toHaveLength(4);
    await tick(RESOLVERS_MIN_HINT_GAP_MS);
    rt.emit('campaign_completed', CAMPAIGN, { status: 'completed' });
    await tick();
    expect(api.requests).toHaveLength(5);
  });

  it('reports a failure and retries, keeping the figures', async () => {
    const client = api.client();
    const { result } = renderHook(() => useResolvers(CAMPAIGN, { client, realtime: null }));
    await tick();
    api.next(problem(503, { code: 'unavailable' }));
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
    expect(result.current.error?.status).toBe(503);
    expect(result.current.resolvers).toHaveLength(2);
    await tick(1000);
    expect(result.current.error).toBeNull();
  });

  it('fetches nothing without a campaign id', async () => {
    const client = api.client();
    const { result } = renderHook(() => useResolvers(null, { client, realtime: null }));
    await tick(POLLING_INTERVALS.ACTIVE_CAMPAIGN);
    expect(api.requests).toHaveLength(0);
    expect(result.current.resolvers).toBeNull();
  });
});

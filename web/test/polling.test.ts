// @vitest-environment node
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/api/errors';
import { backoffDelay, PollController, POLLING_INTERVALS, pollingIntervalFor } from '../src/hooks/polling';
import { CAMPAIGN, FakeRealtime } from './helpers';

describe('polling helpers', () => {
  it('has the seed’s intervals', () => {
    expect(POLLING_INTERVALS).toEqual({ ACTIVE_CAMPAIGN: 10_000, COMPLETED_CAMPAIGN: 60_000, DASHBOARD_VIEW: 30_000 });
    expect(pollingIntervalFor('running')).toBe(10_000);
    expect(pollingIntervalFor('queued')).toBe(10_000);
    expect(pollingIntervalFor('completed')).toBe(60_000);
    expect(pollingIntervalFor('paused')).toBe(60_000);
  });

  it('backs off exponentially, capped, never under Retry-After', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n))).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    expect(backoffDelay(1, 5)).toBe(5000);
    expect(backoffDelay(4, 5)).toBe(8000);
    expect(backoffDelay(9, 120)).toBe(120_000);
  });
});

describe('PollController', () => {
  it('with polling off, still polls on hints and recovers from errors', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const rt = new FakeRealtime(true);
    let calls = 0;
    let fail = false;
    const ctrl = new PollController({
      run: async () => {
        calls++;
        if (fail) {
          fail = false;
          throw new ApiError({ status: 503, code: 'unavailable' });
        }
      },
      polling: false,
      realtime: rt,
      campaignId: CAMPAIGN,
    });
    await ctrl.start();
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(calls).toBe(1);
    fail = true;
    rt.emit('domains_changed', CAMPAIGN);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(2);
    expect(ctrl.state.error?.status).toBe(503);
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toBe(3);
    expect(ctrl.state.error).toBeNull();
    ctrl.stop();
    rt.emit('domains_changed', CAMPAIGN);
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toBe(3);
  });

  it('runs requests one at a time and coalesces waiting polls', async () => {
    let active = 0;
    let maxActive = 0;
    let calls = 0;
    const ctrl = new PollController({
      run: async () => {
        calls++;
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 5));
        active--;
      },
      polling: false,
    });
    const first = ctrl.start();
    expect(ctrl.poll()).toBe(first); // not started yet: shares the initial poll
    while (active === 0) await new Promise((r) => setTimeout(r, 0));
    const a = ctrl.poll(); // the initial poll is running: a second one waits for it
    const b = ctrl.poll();
    expect(a).toBe(b);
    const more = ctrl.exclusive(async () => 'x');
    await Promise.all([first, a, b]);
    expect(await more).toBe('x');
    expect(calls).toBe(2);
    expect(maxActive).toBe(1);
    ctrl.stop();
  });
});

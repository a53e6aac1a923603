import { fireEvent, render, screen, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { CampaignPage } from '../src/app/CampaignPage';
import { ResolversPanel, type ResolversPanelProps } from '../src/app/ResolversPanel';
import { DomainFlowProvider } from '../src/hooks/context';
import { POLLING_INTERVALS, QUIET_SOCKET_MULTIPLIER } from '../src/hooks/polling';
import { RESOLVERS_MIN_HINT_GAP_MS } from '../src/hooks/useResolvers';
import { CAMPAIGN, FakeApi, FakeRealtime, makeCampaign, makeResolver, makeSummary } from './helpers';
import { tick, useFakeClock } from './timers';

const ACTIVE = makeResolver('127.0.0.1:53', { queries: 1200, answers: 900, nxdomain: 250, timeouts: 40, errors: 10, latency_p50_ms: 4.2 });
const DEMOTED = makeResolver('10.0.0.9:53', {
  state: 'demoted',
  queries: 300,
  answers: 12,
  timeouts: 280,
  errors: 8,
  latency_p50_ms: null,
  last_error: 'read udp 10.0.0.9:53: i/o timeout',
  demoted_at: '2025-01-01T00:05:00Z',
});

function panel(patch: Partial<ResolversPanelProps> = {}) {
  const props: ResolversPanelProps = {
    resolvers: [ACTIVE, DEMOTED],
    configured: ['127.0.0.1:53', '10.0.0.9:53'],
    wildcards: [],
    wildcardCount: 0,
    lastUpdated: null,
    refreshing: false,
    onRefresh: () => {},
    ...patch,
  };
  return render(<ResolversPanel {...props} />);
}

function row(address: string): HTMLElement {
  const r = screen.getAllByTestId('resolver-row').find((x) => x.dataset.address === address);
  if (!r) throw new Error(`no row for ${address}`);
  return r;
}

describe('resolvers panel', () => {
  it('lists each resolver with its state and figures; a demoted one has a visible badge', () => {
    panel();
    expect(screen.getByRole('heading', { name: 'Resolvers' })).toBeTruthy();
    expect(screen.getByTestId('resolvers-summary').textContent).toBe('2 resolvers, 1 demoted');

    const active = row('127.0.0.1:53');
    expect(active.dataset.state).toBe('active');
    expect(within(active).getByTestId('resolver-state').textContent).toBe('active');
    expect(within(active).getByTestId('resolver-queries').textContent).toBe('1,200');
    expect(within(active).getByTestId('resolver-answers').textContent).toBe('900');
    expect(within(active).getByTestId('resolver-nxdomain').textContent).toBe('250');
    expect(within(active).getByTestId('resolver-timeouts').textContent).toBe('40');
    expect(within(active).getByTestId('resolver-errors').textContent).toBe('10');
    expect(within(active).getByTestId('resolver-p50').textContent).toBe('4.2 ms');
    expect(within(active).getByTestId('resolver-last-error').textContent).toBe('–');
    expect(active.textContent).toContain('(3%)'); // timeouts of the queries

    const demoted = row('10.0.0.9:53');
    const badge = within(demoted).getByTestId('resolver-state');
    expect(badge.textContent).toBe('demoted');
    expect(badge.dataset.state).toBe('demoted');
    expect(badge.className).toContain('badge-demoted');
    expect(demoted.textContent).toContain('since');
    expect(within(demoted).getByTestId('resolver-timeouts').textContent).toBe('280');
    expect(within(demoted).getByTestId('resolver-p50').textContent).toBe('–');
    expect(within(demoted).getByTestId('resolver-last-error').textContent).toBe('read udp 10.0.0.9:53: i/o timeout');
  });

  it('says all are active when none is demoted, and refreshes on demand', () => {
    const onRefresh = vi.fn();
    panel({ resolvers: [ACTIVE], onRefresh });
    expect(screen.getByTestId('resolvers-summary').textContent).toBe('1 resolver, all active');
    expect(screen.queryByText('demoted')).toBeNull();
    fireEvent.click(screen.getByTestId('resolvers-refresh'));
    expect(onRefresh).toHaveBeenCalledOnce();
  });

  it('explains an empty list', () => {
    panel({ resolvers: [], configured: [] });
    expect(screen.getByTestId('resolvers-empty').textContent).toMatch(/system resolvers/);
  });

  it('shows the wildcard zones with their addresses, and the wildcard count', () => {
    panel({
      wildcards: [
        { zone: '.ws', addresses: ['64.70.19.203', '64.70.19.204'] },
        { zone: '.example.com', addresses: ['192.0.2.80'], cnames: ['parking.example.net'] },
      ],
      wildcardCount: 37,
    });
    const zones = screen.getAllByTestId('wildcard-zone');
    expect(zones.map((z) => z.dataset.zone)).toEqual(['.ws', '.example.com']);
    expect(within(zones[0]).getByTestId('wildcard-addresses').textContent).toBe('64.70.19.203, 64.70.19.204');
    expect(zones[1].textContent).toContain('parking.example.net');
    expect(screen.getByTestId('wildcard-count').textContent).toBe('37');
  });

  it('tells "not checked yet" from "none found"', () => {
    const { unmount } = panel({ wildcards: undefined, wildcardCount: undefined });
    expect(screen.getByTestId('wildcard-unchecked').textContent).toMatch(/Not checked yet/);
    expect(screen.queryByTestId('wildcard-count')).toBeNull();
    unmount();
    const again = panel({ wildcards: undefined, dnsStarted: true });
    expect(screen.getByTestId('wildcard-unchecked').textContent).toMatch(/No wildcard check is recorded/);
    again.unmount();
    panel({ wildcards: [] });
    expect(screen.getByTestId('wildcard-none')).toBeTruthy();
  });
});

function withApi(api: FakeApi, ui: React.ReactNode, realtime: FakeRealtime | null = null) {
  return render(
    <DomainFlowProvider client={api.client()} realtime={realtime}>
      {ui}
    </DomainFlowProvider>,
  );
}

describe('campaign page: resolvers and wildcards', () => {
  it('shows the resolvers, wildcard zones and count, and reads the figures again on DNS progress', async () => {
    useFakeClock();
    const api = new FakeApi();
    api.campaign = makeCampaign({ status: 'running', current_phase: 'dns', wildcards: [{ zone: '.ws', addresses: ['64.70.19.203'] }] });
    api.summary = makeSummary({ dns: { generated: 50, validated: 30, failed: 20, wildcard: 7 } });
    api.resolvers = [ACTIVE, DEMOTED];
    const rt = new FakeRealtime(true);
    withApi(api, <CampaignPage id={CAMPAIGN} />, rt);
    await tick();
    expect(screen.getAllByTestId('resolver-row')).toHaveLength(2);
    expect(within(row('10.0.0.9:53')).getByTestId('resolver-state').textContent).toBe('demoted');
    expect(screen.getByTestId('wildcard-zone').dataset.zone).toBe('.ws');
    expect(screen.getByTestId('wildcard-count').textContent).toBe('7');
    expect(screen.getByTestId('summary-dns-wildcard').textContent).toBe('7');
    expect(screen.getByTestId('summary-dns-failed').textContent).toBe('20');
    expect(api.calls('/resolvers')).toHaveLength(1);

    await tick(RESOLVERS_MIN_HINT_GAP_MS);
    api.resolvers = [{ ...ACTIVE, queries: 1500 }, DEMOTED];
    rt.emit('campaign_progress', CAMPAIGN, { ...makeSummary(), status: 'running', current_phase: 'dns', percent: 40, generated: 100, leads: 0 });
    await tick();
    expect(api.calls('/resolvers')).toHaveLength(2);
    expect(within(row('127.0.0.1:53')).getByTestId('resolver-queries').textContent).toBe('1,500');
    expect(screen.queryByTestId('error-banner')).toBeNull();
  });

  it('does not poll the figures of a campaign that has ended', async () => {
    useFakeClock();
    const api = new FakeApi();
    api.campaign = makeCampaign({ status: 'completed', current_phase: 'analysis' });
    api.summary = makeSummary({ status: 'completed', current_phase: 'analysis' });
    api.resolvers = [ACTIVE];
    withApi(api, <CampaignPage id={CAMPAIGN} />, new FakeRealtime(true));
    await tick();
    expect(api.calls('/resolvers')).toHaveLength(1);
    await tick(POLLING_INTERVALS.COMPLETED_CAMPAIGN * QUIET_SOCKET_MULTIPLIER * 2);
    expect(api.calls('/resolvers')).toHaveLength(1);
    expect(api.calls(`/campaigns/${CAMPAIGN}`).length).toBeGreaterThan(1); // the campaign itself is still polled
  });
});

import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { DomainFlowProvider } from '../src/hooks/context';
import { App, TOKEN_KEY } from '../src/app/App';
import { CampaignList } from '../src/app/CampaignList';
import { CampaignPage } from '../src/app/CampaignPage';
import { allowed, LifecycleButtons, type LifecycleAction } from '../src/app/LifecycleButtons';
import { buildRequest, INITIAL_VALUES, NewCampaignForm, validateValues } from '../src/app/NewCampaignForm';
import type { CampaignStatus } from '../src/api/types';
import { CAMPAIGN, FakeApi, FakeRealtime, json, makeCampaign, makeSummary, problem } from './helpers';

function withApi(api: FakeApi, ui: React.ReactNode, realtime: FakeRealtime | null = null) {
  return render(
    <DomainFlowProvider client={api.client()} realtime={realtime}>
      {ui}
    </DomainFlowProvider>,
  );
}

describe('sign-in', () => {
  it('shows the server’s 401 answer as a sign-in error, then signs in with a good token', async () => {
    const fetchMock = vi.fn(async (req: Request) =>
      req.headers.get('Authorization') === 'Bearer good'
        ? json({ items: [], limit: 1, offset: 0, total: 0, has_more: false })
        : problem(401, { code: 'unauthorized', title: 'Unauthorized', detail: 'The token is not valid.' }),
    );
    vi.stubGlobal('fetch', fetchMock);
    vi.stubGlobal('WebSocket', undefined);
    render(<App baseUrl="http://api.test" />);
    const input = screen.getByTestId('token-input');
    expect(screen.getByLabelText('API token')).toBe(input);
    fireEvent.change(input, { target: { value: 'bad' } });
    fireEvent.click(screen.getByTestId('signin-submit'));
    expect(await screen.findByTestId('signin-error')).toHaveProperty('textContent', 'Sign-in failed: The token is not valid.');
    expect(localStorage.getItem(TOKEN_KEY)).toBeNull();

    fireEvent.change(input, { target: { value: 'good' } });
    fireEvent.click(screen.getByTestId('signin-submit'));
    expect(await screen.findByTestId('campaigns-empty')).toBeTruthy();
    expect(localStorage.getItem(TOKEN_KEY)).toBe('good');
    vi.unstubAllGlobals();
  });

  it('says so when the server cannot be reached', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    render(<App baseUrl="http://api.test" />);
    fireEvent.change(screen.getByTestId('token-input'), { target: { value: 'x' } });
    fireEvent.click(screen.getByTestId('signin-submit'));
    expect((await screen.findByTestId('signin-error')).textContent).toMatch(/cannot be reached/);
    vi.unstubAllGlobals();
  });
});

describe('campaign list', () => {
  it('shows rows with status and progress, updated live by campaign_progress', async () => {
    const api = new FakeApi();
    api.campaign = makeCampaign({ status: 'running', current_phase: 'dns', updated_at: '2025-01-01T00:00:00Z' });
    api.summary = makeSummary({ updated_at: '2025-01-01T00:00:00Z' });
    const rt = new FakeRealtime(true);
    withApi(api, <CampaignList />, rt);
    const row = await screen.findByTestId('campaign-row');
    expect(row.dataset.campaignId).toBe(CAMPAIGN);
    expect(within(row).getByTestId('campaign-status').textContent).toBe('Running');
    expect(within(row).getByTestId('campaign-progress-percent').textContent).toBe('33%');
    rt.emit('campaign_progress', CAMPAIGN, { ...makeSummary(), status: 'running', current_phase: 'http', percent: 71.5, generated: 100, leads: 3 });
    await waitFor(() => expect(within(row).getByTestId('campaign-progress-percent').textContent).toBe('71%'));
    expect(within(row).getByTestId('campaign-phase').textContent).toBe('HTTP');
    expect(within(row).getByTestId('campaign-leads').textContent).toBe('3');
    expect((within(row).getByTestId('action-pause') as HTMLButtonElement).disabled).toBe(false);
    expect((within(row).getByTestId('action-start') as HTMLButtonElement).disabled).toBe(true);
  });
});

describe('lifecycle buttons', () => {
  const cases: Record<CampaignStatus, LifecycleAction[]> = {
    draft: ['start', 'cancel'],
    queued: ['pause', 'cancel'],
    running: ['pause', 'cancel'],
    paused: ['resume', 'cancel'],
    completed: [],
    failed: [],
    cancelled: [],
  };
  for (const [status, enabled] of Object.entries(cases) as Array<[CampaignStatus, LifecycleAction[]]>) {
    it(`enables ${enabled.join(', ') || 'nothing'} when ${status}`, () => {
      const api = new FakeApi();
      withApi(api, <LifecycleButtons campaign={makeCampaign({ status })} onChanged={() => {}} />);
      for (const action of ['start', 'pause', 'resume', 'cancel'] as LifecycleAction[]) {
        expect((screen.getByTestId(`action-${action}`) as HTMLButtonElement).disabled).toBe(!enabled.includes(action));
        expect(allowed(action, status)).toBe(enabled.includes(action));
      }
    });
  }

  it('calls the action and reports the campaign as it now is', async () => {
    const api = new FakeApi();
    api.next(json(makeCampaign({ status: 'queued' })));
    const onChanged = vi.fn();
    withApi(api, <LifecycleButtons campaign={makeCampaign({ status: 'draft' })} onChanged={onChanged} />);
    fireEvent.click(screen.getByTestId('action-start'));
    await waitFor(() => expect(onChanged).toHaveBeenCalledOnce());
    expect(onChanged.mock.calls[0][0].status).toBe('queued');
    expect(api.requests[0].method).toBe('POST');
    expect(new URL(api.requests[0].url).pathname).toBe(`/api/v1/campaigns/${CAMPAIGN}/start`);
  });

  it('shows a 409 next to the buttons', async () => {
    const api = new FakeApi();
    api.next(problem(409, { code: 'conflict', detail: 'Cannot pause a campaign that is completed.' }));
    withApi(api, <LifecycleButtons campaign={makeCampaign({ status: 'running' })} onChanged={() => {}} />);
    fireEvent.click(screen.getByTestId('action-pause'));
    expect((await screen.findByTestId('action-error')).textContent).toBe('Cannot pause a campaign that is completed.');
  });
});

describe('new campaign form', () => {
  it('builds the request body from the fields', () => {
    const body = buildRequest({
      ...INITIAL_VALUES,
      name: ' widgets ',
      constant: 'widgets',
      charset: 'abc',
      variableLength: '3',
      tlds: '.com, .net',
      maxDomains: '50',
      resolvers: '127.0.0.1:5353',
      keywords: 'widgets pricing',
      ports: '80 8080',
      autoStart: true,
    });
    expect(body).toEqual({
      name: 'widgets',
      generation: { pattern_type: 'prefix', constant_string: 'widgets', character_set: 'abc', variable_length: 3, tlds: ['.com', '.net'], max_domains: 50 },
      dns: { resolvers: ['127.0.0.1:5353'] },
      http: { keywords: ['widgets', 'pricing'], ports: [80, 8080] },
      auto_start: true,
    });
  });

  it('shows the server’s field errors next to their fields', async () => {
    const api = new FakeApi();
    api.next(
      problem(400, {
        code: 'invalid',
        detail: 'The request is not valid.',
        errors: [
          { pointer: '/generation/character_set', detail: 'may hold only lowercase letters, digits and hyphens' },
          { pointer: '/generation/tlds/1', detail: '"net" must start with a dot' },
          { pointer: '/dns/resolvers/0', detail: '"x" is not host:port' },
          { pointer: '/name', detail: 'must not be empty' },
          { pointer: '/analysis/min_lead_score', detail: 'must be at most 100' },
          { pointer: '/dns/max_attempts', detail: 'must be more than retries (1): a pass makes retries + 1 tries' },
          { pointer: '/http/timeout_ms', detail: 'must be at least 1' },
        ],
      }),
    );
    const onCreated = vi.fn();
    withApi(api, <NewCampaignForm onCreated={onCreated} />);
    fireEvent.change(screen.getByTestId('field-charset'), { target: { value: 'ab!' } });
    fireEvent.change(screen.getByLabelText('TLDs'), { target: { value: '.com net' } });
    fireEvent.click(screen.getByTestId('new-campaign-submit'));
    expect((await screen.findByTestId('error-field-charset')).textContent).toBe('may hold only lowercase letters, digits and hyphens');
    expect(screen.getByTestId('error-field-tlds').textContent).toBe('item 2: "net" must start with a dot');
    expect(screen.getByTestId('error-field-resolvers').textContent).toBe('item 1: "x" is not host:port');
    expect(screen.getByTestId('error-field-name').textContent).toBe('must not be empty');
    expect(screen.getByTestId('field-charset').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByTestId('error-field-min-lead-score').textContent).toBe('must be at most 100');
    expect(screen.getByTestId('error-field-max-attempts').textContent).toBe('must be more than retries (1): a pass makes retries + 1 tries');
    expect(screen.getByTestId('field-max-attempts').getAttribute('aria-invalid')).toBe('true');
    // A pointer no field owns goes to the form.
    expect(screen.getByTestId('form-error').textContent).toContain('/http/timeout_ms: must be at least 1');
    expect(onCreated).not.toHaveBeenCalled();
    const sent = await api.requests[0].clone().json();
    expect(sent.generation.character_set).toBe('ab!');
    expect(sent.generation.tlds).toEqual(['.com', 'net']);
  });

  it('sends the DNS tries and the minimum lead score when set, and leaves them to the server when empty', async () => {
    expect(buildRequest({ ...INITIAL_VALUES, maxAttempts: ' 8 ', minLeadScore: '55' })).toMatchObject({
      dns: { resolvers: [], max_attempts: 8 },
      analysis: { min_lead_score: 55 },
    });
    const defaults = buildRequest(INITIAL_VALUES);
    expect(defaults.dns).toEqual({ resolvers: [] });
    expect(defaults.analysis).toBeUndefined();

    const api = new FakeApi();
    api.next(json(makeCampaign({ name: 'tuned' }), { status: 201 }));
    const onCreated = vi.fn();
    withApi(api, <NewCampaignForm onCreated={onCreated} />);
    fireEvent.change(screen.getByTestId('field-name'), { target: { value: 'tuned' } });
    fireEvent.change(screen.getByLabelText('DNS tries per name'), { target: { value: '9' } });
    fireEvent.change(screen.getByLabelText('Min lead score'), { target: { value: '0' } });
    fireEvent.click(screen.getByTestId('new-campaign-submit'));
    await waitFor(() => expect(onCreated).toHaveBeenCalledOnce());
    const sent = await api.requests[0].clone().json();
    expect(sent.dns.max_attempts).toBe(9);
    expect(sent.analysis).toEqual({ min_lead_score: 0 });
  });

  it('checks the DNS tries and the minimum lead score before sending', async () => {
    expect(validateValues({ ...INITIAL_VALUES, maxAttempts: '21', minLeadScore: '-1' })).toEqual({
      maxAttempts: ['must be at most 20'],
      minLeadScore: ['must be at least 0'],
    });
    expect(validateValues({ ...INITIAL_VALUES, maxAttempts: '2.5', minLeadScore: '100' })).toEqual({
      maxAttempts: ['must be a whole number from 1 to 20'],
    });
    expect(validateValues(INITIAL_VALUES)).toEqual({});

    const api = new FakeApi();
    const onCreated = vi.fn();
    withApi(api, <NewCampaignForm onCreated={onCreated} />);
    fireEvent.change(screen.getByTestId('field-max-attempts'), { target: { value: '0' } });
    fireEvent.change(screen.getByTestId('field-min-lead-score'), { target: { value: '150' } });
    fireEvent.click(screen.getByTestId('new-campaign-submit'));
    const err = await screen.findByTestId('error-field-max-attempts');
    expect(err.textContent).toBe('must be at least 1');
    expect(err.getAttribute('role')).toBe('alert');
    expect(err.closest('.field')?.classList.contains('field-invalid')).toBe(true);
    expect(screen.getByTestId('field-max-attempts').getAttribute('aria-describedby')).toContain(err.id);
    expect(screen.getByTestId('error-field-min-lead-score').textContent).toBe('must be at most 100');
    expect(screen.getByTestId('field-min-lead-score').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByTestId('form-error').textContent).toContain('Please correct the highlighted fields.');
    expect(api.requests).toHaveLength(0);

    // Corrected, the form is sent.
    api.next(json(makeCampaign(), { status: 201 }));
    fireEvent.change(screen.getByTestId('field-max-attempts'), { target: { value: '4' } });
    fireEvent.change(screen.getByTestId('field-min-lead-score'), { target: { value: '60' } });
    fireEvent.click(screen.getByTestId('new-campaign-submit'));
    await waitFor(() => expect(onCreated).toHaveBeenCalledOnce());
    expect(screen.queryByTestId('error-field-max-attempts')).toBeNull();
  });

  it('reports the created campaign', async () => {
    const api = new FakeApi();
    api.next(json(makeCampaign({ name: 'made' }), { status: 201 }));
    const onCreated = vi.fn();
    withApi(api, <NewCampaignForm onCreated={onCreated} />);
    fireEvent.change(screen.getByTestId('field-name'), { target: { value: 'made' } });
    fireEvent.click(screen.getByTestId('new-campaign-submit'));
    await waitFor(() => expect(onCreated).toHaveBeenCalledOnce());
    expect(onCreated.mock.calls[0][0].name).toBe('made');
  });
});

describe('campaign page', () => {
  it('shows the summary as counts and bars, the domain table, and filters', async () => {
    const api = new FakeApi();
    api.campaign = makeCampaign({ status: 'running', current_phase: 'dns' });
    api.summary = makeSummary({ dns: { generated: 60, validated: 30, failed: 10 }, leads: 4 });
    api.domains[0] = { ...api.domains[0], status: 'validated', dns_status: 'ok', http_status: 'ok', lead_status: 'match', lead_score: 85, http_result: { status: 'ok', status_code: 200, title: 'Widgets Inc', keywords_found: ['widgets'] } };
    withApi(api, <CampaignPage id={CAMPAIGN} />);
    expect((await screen.findByTestId('summary-total')).textContent).toBe('100');
    expect(screen.getByTestId('summary-leads').textContent).toBe('4');
    expect(screen.getByTestId('summary-dns-validated').textContent).toBe('30');
    expect(screen.getByTestId('summary-dns-failed').textContent).toBe('10');
    expect(screen.getByTestId('summary-dns-pending').textContent).toBe('60');
    expect(screen.getByTestId('summary-progress').textContent).toBe('33%');
    await waitFor(() => expect(screen.getAllByTestId('domain-row')).toHaveLength(50));
    const first = screen.getAllByTestId('domain-row')[0];
    expect(within(first).getByTestId('domain-http').textContent).toBe('200');
    expect(within(first).getByTestId('domain-title').textContent).toBe('Widgets Inc');
    expect(within(first).getByTestId('domain-keywords').textContent).toBe('widgets');
    expect(within(first).getByTestId('domain-lead').textContent).toContain('85');
    expect(screen.getByTestId('domain-count').textContent).toBe('50 of 120 shown');

    fireEvent.click(screen.getByTestId('load-more'));
    await waitFor(() => expect(screen.getAllByTestId('domain-row')).toHaveLength(100));

    fireEvent.change(screen.getByTestId('filter-status'), { target: { value: 'validated' } });
    await waitFor(() => expect(screen.getAllByTestId('domain-row')).toHaveLength(1));
    const last = new URL(api.requests[api.requests.length - 1].url);
    expect(last.searchParams.get('status')).toBe('validated');

    fireEvent.change(screen.getByTestId('filter-status'), { target: { value: '' } });
    fireEvent.change(screen.getByTestId('domain-search'), { target: { value: 'dom7' } });
    await waitFor(() => expect(screen.getAllByTestId('domain-row').map((r) => r.dataset.domain)).toContain('dom77.com'), { timeout: 2000 });
    expect(screen.getAllByTestId('domain-row').every((r) => r.dataset.domain!.includes('dom7'))).toBe(true);
  });

  it('shows a retry banner with the Retry-After countdown on 429, never a blank page', async () => {
    const api = new FakeApi();
    const limited = () => problem(429, { code: 'rate_limited', title: 'Too Many Requests' }, { 'Retry-After': '30' });
    api.next(limited, limited, limited);
    withApi(api, <CampaignPage id={CAMPAIGN} />);
    const banner = await screen.findByTestId('error-banner');
    expect(banner.textContent).toMatch(/Too many requests/);
    expect(within(banner).getByTestId('retry-countdown').textContent).toBe('30');
    expect(screen.getByTestId('domain-table')).toBeTruthy();
    fireEvent.click(within(banner).getByTestId('retry-button'));
    await waitFor(() => expect(screen.queryByTestId('error-banner')).toBeNull());
    expect(await screen.findByTestId('campaign-name')).toBeTruthy();
  });

  it('shows the DNS tries and the minimum lead score in the header', async () => {
    const api = new FakeApi();
    const c = makeCampaign();
    api.campaign = { ...c, config: { ...c.config, dns: { retries: 1, max_attempts: 6 }, http: { keywords: ['widgets'] }, analysis: { min_lead_score: 40 } } };
    withApi(api, <CampaignPage id={CAMPAIGN} />);
    expect((await screen.findByTestId('config-max-attempts')).textContent).toBe('6 (2 per pass)');
    expect(screen.getByTestId('config-min-lead-score').textContent).toBe('40 and a keyword found');
  });

  it('says when the server is down', async () => {
    const api = new FakeApi();
    api.next(new TypeError('Failed to fetch'), new TypeError('Failed to fetch'), new TypeError('Failed to fetch'));
    withApi(api, <CampaignPage id={CAMPAIGN} />);
    const banner = await screen.findByTestId('error-banner');
    expect(banner.textContent).toMatch(/cannot be reached/);
    expect(within(banner).getByTestId('retry-countdown').textContent).toBe('1');
  });
});

import { fireEvent, render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { CampaignConfig, Domain } from '../src/api/types';
import { DomainStreamingTable, leadVerdict } from '../src/app/DomainStreamingTable';
import { formatPoints, scoreReasonLabel, scoreTooltip } from '../src/app/ScoreBreakdown';
import type { UseDomainDataResult } from '../src/hooks/useDomainData';
import { makeCampaign, makeDomain } from './helpers';

function dataOf(domains: Domain[]): UseDomainDataResult {
  return {
    domains,
    total: domains.length,
    hasMore: false,
    pageCount: 1,
    loadingMore: false,
    loading: false,
    refreshing: false,
    error: null,
    failureCount: 0,
    retryAt: null,
    retryInSeconds: null,
    lastUpdated: null,
    refresh: async () => {},
    retry: () => {},
    loadMore: async () => {},
  };
}

const CONFIG: CampaignConfig = {
  ...makeCampaign().config,
  dns: { resolvers: ['127.0.0.1:53'], retries: 1, max_attempts: 6 },
  http: { keywords: ['widgets', 'pricing'] },
  analysis: { min_lead_score: 40 },
};

function table(domains: Domain[], config: CampaignConfig | undefined = CONFIG) {
  return render(<DomainStreamingTable data={dataOf(domains)} filters={{ status: '', phase: '', q: '' }} onFiltersChange={() => {}} config={config} />);
}

function rowOf(name: string): HTMLElement {
  const row = screen.getAllByTestId('domain-row').find((r) => r.dataset.domain === name);
  if (!row) throw new Error(`no row for ${name}`);
  return row;
}

function openDetails(name: string): HTMLElement {
  fireEvent.click(within(rowOf(name)).getByTestId('domain-details-toggle'));
  const details = screen.getAllByTestId('domain-details').find((r) => r.dataset.domain === name);
  if (!details) throw new Error(`no details for ${name}`);
  return details;
}

const LEAD = makeDomain(0, {
  name: 'shopabc.test',
  status: 'validated',
  dns_status: 'ok',
  http_status: 'ok',
  lead_status: 'match',
  lead_score: 70,
  score_breakdown: [
    { reason: 'status_2xx', points: 30 },
    { reason: 'title', points: 10 },
    { reason: 'keyword:widgets', points: 15 },
    { reason: 'keyword:pricing', points: 15 },
  ],
  dns_result: {
    status: 'ok',
    addresses: ['192.0.2.1', '192.0.2.2', '192.0.2.3'],
    ns: ['ns1.example.net', 'ns2.example.net'],
    mx: [
      { preference: 20, host: 'mx2.example.net' },
      { preference: 10, host: 'mx1.example.net' },
    ],
    attempts: 1,
  },
  http_result: { status: 'ok', status_code: 200, title: 'Acme Widgets', keywords_found: ['widgets', 'pricing'] },
});

const WILDCARD = makeDomain(1, {
  name: 'shopabd.ws',
  status: 'failed',
  dns_status: 'error',
  http_status: 'skipped',
  lead_status: 'no_match',
  lead_score: 0,
  dns_result: { status: 'error', reason: 'wildcard', wildcard_zone: '.ws', addresses: ['64.70.19.203'], attempts: 1 },
});

const RETRIED = makeDomain(2, {
  name: 'shopabe.test',
  dns_status: 'pending',
  dns_result: { status: 'pending', reason: 'timeout', attempts: 3, resolver: '127.0.0.1:53' },
});

const BLOCKED = makeDomain(3, {
  name: 'shopabf.test',
  http_status: 'error',
  http_result: {
    status: 'error',
    reason: 'blocked',
    error: 'blocked: 127.0.0.1 is in 127.0.0.0/8',
    content_length: 0,
    checked_at: '2026-12-07T10:00:00Z',
  },
});

const TRUNCATED = makeDomain(4, {
  name: 'shopabg.test',
  http_status: 'ok',
  http_result: { status: 'ok', status_code: 200, title: 'Big', content_length: 1048576, truncated: true, checked_at: '2026-12-07T10:00:00Z' },
});

describe('domain table', () => {
  it('says a fetch the outbound guard refused is blocked, not an error of the site', () => {
    table([BLOCKED]);
    const cell = within(rowOf('shopabf.test')).getByTestId('domain-http');
    expect(within(cell).getByTestId('http-blocked').textContent).toBe('blocked');
    expect(within(cell).getByTestId('http-blocked').getAttribute('title')).toContain('127.0.0.0/8');
  });

  it('says a page was cut at max_body_bytes', () => {
    table([TRUNCATED]);
    expect(within(openDetails('shopabg.test')).getByTestId('details-body-read').textContent).toMatch(/^1,048,576 bytes \(the page goes on/);
  });

  it('shows NS and MX compactly in the DNS column, all of them in the details', () => {
    table([LEAD]);
    const dns = within(rowOf('shopabc.test')).getByTestId('domain-dns');
    expect(dns.querySelector('.pill')?.textContent).toBe('ok');
    expect(dns.textContent).toContain('192.0.2.1, 192.0.2.2 +1');
    expect(within(dns).getByTestId('domain-ns').textContent).toBe('NS ns1.example.net +1');
    expect(within(dns).getByTestId('domain-mx').textContent).toBe('MX 10 mx1.example.net +1');
    expect(within(dns).queryByTestId('domain-dns-attempts')).toBeNull(); // one try: nothing to say

    const details = openDetails('shopabc.test');
    expect(within(details).getByTestId('details-ns').textContent).toBe('ns1.example.net, ns2.example.net');
    expect(within(details).getByTestId('details-mx').textContent).toBe('10 mx1.example.net, 20 mx2.example.net');
  });

  it('marks a wildcard answer with its zone, after the DNS status', () => {
    table([LEAD, WILDCARD]);
    const dns = within(rowOf('shopabd.ws')).getByTestId('domain-dns');
    expect(dns.querySelector('.pill')?.textContent).toBe('error');
    expect(within(dns).getByTestId('domain-wildcard').textContent).toBe('wildcard .ws');
    expect(dns.textContent).toContain('64.70.19.203');
    expect(within(rowOf('shopabc.test')).queryByTestId('domain-wildcard')).toBeNull();
    const details = openDetails('shopabd.ws');
    expect(within(details).getByTestId('details-wildcard-zone').textContent).toBe('.ws');
    expect(within(details).getByTestId('details-verdict').textContent).toMatch(/wildcard/);
  });

  it('shows the DNS tries of a name tried more than once, against the campaign’s maximum', () => {
    table([RETRIED]);
    expect(within(rowOf('shopabe.test')).getByTestId('domain-dns-attempts').textContent).toBe('3/6 tries');
    expect(within(openDetails('shopabe.test')).getByTestId('details-attempts').textContent).toBe('3 of at most 6');
  });

  it('lists the score breakdown, reason by reason, summing to the lead score', () => {
    table([LEAD, WILDCARD]);
    const score = within(rowOf('shopabc.test')).getByTestId('domain-score');
    expect(score.textContent).toBe('70');
    expect(score.getAttribute('title')).toBe('status_2xx +30, title +10, keyword:widgets +15, keyword:pricing +15 = 70');

    const toggle = within(rowOf('shopabc.test')).getByTestId('domain-details-toggle');
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    const details = openDetails('shopabc.test');
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    expect(toggle.getAttribute('aria-controls')).toBe(details.id);
    // The details row is no domain row.
    expect(screen.getAllByTestId('domain-row')).toHaveLength(2);

    const parts = within(details).getAllByTestId('score-part');
    expect(parts.map((p) => [p.dataset.reason, p.querySelector('td')?.textContent])).toEqual([
      ['status_2xx', '+30'],
      ['title', '+10'],
      ['keyword:widgets', '+15'],
      ['keyword:pricing', '+15'],
    ]);
    expect(parts[2].textContent).toContain('Keyword “widgets”');
    expect(parts.reduce((s, p) => s + Number(p.dataset.points), 0)).toBe(70);
    expect(within(details).getByTestId('score-total').textContent).toBe('70');
    expect(within(details).queryByTestId('score-mismatch')).toBeNull();
    expect(within(details).getByTestId('details-verdict').textContent).toBe('A lead: 70 reaches the minimum of 40 and a keyword was found.');

    fireEvent.click(toggle);
    expect(screen.queryByTestId('domain-details')).toBeNull();
  });

  it('shows a cap as negative points, and says so when the parts do not add up', () => {
    const capped = makeDomain(3, {
      name: 'capped.test',
      lead_status: 'match',
      lead_score: 100,
      score_breakdown: [
        { reason: 'status_2xx', points: 30 },
        { reason: 'title', points: 10 },
        { reason: 'keyword:a', points: 75 },
        { reason: 'cap', points: -15 },
      ],
    });
    const odd = makeDomain(4, { name: 'odd.test', lead_status: 'no_match', lead_score: 50, score_breakdown: [{ reason: 'status_2xx', points: 30 }] });
    table([capped, odd]);
    const cappedDetails = openDetails('capped.test');
    expect(within(cappedDetails).getAllByTestId('score-part')[3].textContent).toContain('Capped at 100');
    expect(within(cappedDetails).getAllByTestId('score-part')[3].querySelector('td')?.textContent).toBe('−15');
    expect(within(cappedDetails).getByTestId('score-total').textContent).toBe('100');
    const oddDetails = openDetails('odd.test');
    expect(within(oddDetails).getByTestId('score-mismatch').textContent).toBe('The parts add up to 30, but the lead score is 50.');
  });

  it('says why a domain is not a lead', () => {
    const base = { status: 'validated', dns_status: 'ok', http_status: 'ok', lead_status: 'no_match' } as const;
    const low = makeDomain(0, { ...base, lead_score: 30, http_result: { status: 'ok', keywords_found: ['widgets'] } });
    const noKeyword = makeDomain(1, { ...base, lead_score: 40, http_result: { status: 'ok', keywords_found: [] } });
    expect(leadVerdict(low, CONFIG)).toBe('Not a lead: 30 is below the minimum of 40.');
    expect(leadVerdict(noKeyword, CONFIG)).toBe('Not a lead: none of the campaign’s keywords was found on its page.');
    expect(leadVerdict(makeDomain(2), CONFIG)).toBeNull();
  });
});

describe('score helpers', () => {
  it('words the reasons and signs the points', () => {
    expect(scoreReasonLabel('status_2xx')).toBe('HTTP 2xx answer');
    expect(scoreReasonLabel('keyword:shop')).toBe('Keyword “shop”');
    expect(scoreReasonLabel('something_new')).toBe('something_new');
    expect([formatPoints(15), formatPoints(-5), formatPoints(0)]).toEqual(['+15', '−5', '0']);
    expect(scoreTooltip(undefined, 0)).toBeUndefined();
  });
});

import { Fragment, useEffect, useRef, useState, type ReactNode } from 'react';
import type { CampaignConfig, Domain, DomainFilterPhase, DomainFilterStatus, MXRecord } from '../api/types';
import type { UseDomainDataResult } from '../hooks/useDomainData';
import { formatCount, formatDate, formatMs } from './format';
import { ScoreBreakdown, scoreTooltip } from './ScoreBreakdown';

export interface DomainFilters {
  status: DomainFilterStatus | '';
  phase: DomainFilterPhase | '';
  q: string;
}

export interface DomainStreamingTableProps {
  data: UseDomainDataResult;
  filters: DomainFilters;
  onFiltersChange: (f: DomainFilters) => void;
  /** The campaign's configuration: the minimum lead score, keywords and DNS tries, for the details. */
  config?: CampaignConfig;
}

const COLUMNS = 8;

/** The first items and how many more: "a, b +3". */
function firstOf(items: readonly string[], n: number): string {
  return items.length > n ? `${items.slice(0, n).join(', ')} +${items.length - n}` : items.join(', ');
}

function byPreference(mx: readonly MXRecord[]): MXRecord[] {
  return [...mx].sort((a, b) => a.preference - b.preference || a.host.localeCompare(b.host));
}

function dnsCell(d: Domain, maxAttempts: number | undefined) {
  const r = d.dns_result;
  const wildcard = r?.reason === 'wildcard';
  const addresses = r?.addresses ?? [];
  const detail = d.dns_status === 'ok' || wildcard ? firstOf(addresses, 2) : (r?.reason ?? r?.error);
  const ns = r?.ns ?? [];
  const mx = byPreference(r?.mx ?? []);
  const attempts = r?.attempts ?? 0;
  return (
    <>
      <span className={`pill pill-${d.dns_status}`}>{d.dns_status}</span>
      {wildcard && (
        <span
          className="pill pill-wildcard"
          data-testid="domain-wildcard"
          title={`The answer is the wildcard answer of ${r?.wildcard_zone ?? 'its zone'}, which answers every name: not a real find`}
        >
          wildcard{r?.wildcard_zone ? ` ${r.wildcard_zone}` : ''}
        </span>
      )}
      {attempts > 1 && (
        <>
          {' '}
          <span className="muted small" data-testid="domain-dns-attempts" title="DNS tries so far, over every pass">
            {attempts}
            {maxAttempts ? `/${maxAttempts}` : ''} tries
          </span>
        </>
      )}
      {detail && <span className="muted small cell-detail">{detail}</span>}
      {ns.length > 0 && (
        <span className="muted small cell-detail mono" data-testid="domain-ns" title={`NS: ${ns.join(', ')}`}>
          NS {firstOf(ns, 1)}
        </span>
      )}
      {mx.length > 0 && (
        <span className="muted small cell-detail mono" data-testid="domain-mx" title={`MX: ${mx.map((m) => `${m.preference} ${m.host}`).join(', ')}`}>
          MX {mx[0].preference} {mx[0].host}
          {mx.length > 1 ? ` +${mx.length - 1}` : ''}
        </span>
      )}
    </>
  );
}

function httpCell(d: Domain) {
  const r = d.http_result;
  if (r?.status_code) return <span className={`code code-${String(r.status_code)[0]}xx`}>{r.status_code}</span>;
  if (r?.reason === 'blocked') {
    // Refused by this instance's outbound guard: not the site's answer.
    return (
      <span className="pill pill-blocked" title={r.error} data-testid="http-blocked">
        blocked
      </span>
    );
  }
  return <span className={`pill pill-${d.http_status}`}>{d.http_status}</span>;
}

/** Why the domain is, or is not, a lead; null before it is scored. */
export function leadVerdict(d: Domain, config?: CampaignConfig): string | null {
  const min = config?.analysis.min_lead_score;
  const keywords = config?.http.keywords ?? [];
  const found = d.http_result?.keywords_found ?? [];
  if (d.lead_status === 'pending') return null;
  if (d.lead_status === 'match') {
    return `A lead: ${d.lead_score}${min !== undefined ? ` reaches the minimum of ${min}` : ''}${keywords.length > 0 ? ' and a keyword was found' : ''}.`;
  }
  if (d.dns_result?.reason === 'wildcard') return 'Not a lead: its DNS answer is a wildcard zone’s, not its own.';
  if (d.dns_status !== 'ok') return 'Not a lead: the name did not resolve.';
  if (min !== undefined && d.lead_score < min) return `Not a lead: ${d.lead_score} is below the minimum of ${min}.`;
  if (keywords.length > 0 && found.length === 0) return 'Not a lead: none of the campaign’s keywords was found on its page.';
  return 'Not a lead.';
}

/** One "label: value" of the details; nothing when there is no value. */
function item(label: string, value: ReactNode, testId?: string) {
  if (value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0)) return null;
  return (
    <div>
      <dt>{label}</dt>
      <dd data-testid={testId}>{value}</dd>
    </div>
  );
}

function DomainDetails({ d, config }: { d: Domain; config?: CampaignConfig }) {
  const r = d.dns_result;
  const h = d.http_result;
  const maxAttempts = config?.dns.max_attempts;
  const verdict = leadVerdict(d, config);
  return (
    <div className="details">
      <div className="details-block" data-testid="details-dns">
        <h4>DNS</h4>
        <dl className="kv">
          {item('Status', `${d.dns_status}${r?.reason ? ` (${r.reason})` : ''}`)}
          {item('Wildcard zone', r?.wildcard_zone && <span className="mono">{r.wildcard_zone}</span>, 'details-wildcard-zone')}
          {item('Addresses', r?.addresses?.length ? <span className="mono">{r.addresses.join(', ')}</span> : null)}
          {item('CNAMEs', r?.cnames?.length ? <span className="mono">{r.cnames.join(' → ')}</span> : null)}
          {item('NS', r?.ns?.length ? <span className="mono">{r.ns.join(', ')}</span> : null, 'details-ns')}
          {item(
            'MX',
            r?.mx?.length ? (
              <span className="mono">
                {byPreference(r.mx)
                  .map((m) => `${m.preference} ${m.host}`)
                  .join(', ')}
              </span>
            ) : null,
            'details-mx',
          )}
          {item('Resolver', r?.resolver && <span className="mono">{r.resolver}</span>)}
          {item('Latency', r?.latency_ms !== undefined ? formatMs(r.latency_ms) : null)}
          {item('Tries', r?.attempts ? `${r.attempts}${maxAttempts ? ` of at most ${maxAttempts}` : ''}` : null, 'details-attempts')}
          {item('Error', r?.error)}
          {item('Checked', r?.checked_at ? formatDate(r.checked_at) : null)}
        </dl>
      </div>
      <div className="details-block" data-testid="details-http">
        <h4>HTTP</h4>
        {h ? (
          <dl className="kv">
            {item('Status', h.status_code ? `${h.status_code} (${h.status})` : `${h.status}${h.reason ? ` (${h.reason})` : ''}`)}
            {item('URL', h.url && <span className="mono">{h.url}</span>)}
            {item('Final URL', h.final_url && h.final_url !== h.url ? <span className="mono">{h.final_url}</span> : null)}
            {item('Title', h.title)}
            {item('Keywords found', h.keywords_found?.length ? h.keywords_found.join(', ') : null)}
            {item(
              'Body read',
              h.content_length !== undefined
                ? `${formatCount(h.content_length)} bytes${h.truncated ? ' (the page goes on: cut at the campaign’s max_body_bytes)' : ''}`
                : null,
              'details-body-read',
            )}
            {item('Latency', h.latency_ms !== undefined ? formatMs(h.latency_ms) : null)}
            {item('Error', h.error)}
            {item('Checked', h.checked_at ? formatDate(h.checked_at) : null)}
          </dl>
        ) : (
          <p className="muted small">{d.http_status === 'skipped' ? 'Not fetched: DNS failed.' : 'Not fetched yet.'}</p>
        )}
      </div>
      <div className="details-block" data-testid="details-score">
        <h4>Lead score</h4>
        {d.score_breakdown && d.score_breakdown.length > 0 ? (
          <ScoreBreakdown parts={d.score_breakdown} score={d.lead_score} />
        ) : (
          <p className="muted small">{d.lead_status === 'pending' ? 'Not scored yet.' : `Score ${d.lead_score}: no reason gave it points.`}</p>
        )}
        {verdict && (
          <p className="small" data-testid="details-verdict">
            {verdict}
          </p>
        )}
      </div>
    </div>
  );
}

/**
 * The domains of a campaign over REST (no WebSocket streaming): filters, search, Refresh
 * and Load More; the rows come from useDomainData.
 */
export function DomainStreamingTable({ data, filters, onFiltersChange, config }: DomainStreamingTableProps) {
  const [search, setSearch] = useState(filters.q);
  // The rows whose details are open, by offset_index.
  const [open, setOpen] = useState<ReadonlySet<number>>(() => new Set());
  const toggle = (offset: number) =>
    setOpen((prev) => {
      const next = new Set(prev);
      if (!next.delete(offset)) next.add(offset);
      return next;
    });
  const latest = useRef({ filters, onFiltersChange });
  useEffect(() => {
    latest.current = { filters, onFiltersChange };
  });
  // Debounce the search box: a request per pause in typing, not per key.
  useEffect(() => {
    const id = setTimeout(() => {
      const { filters: f, onFiltersChange: change } = latest.current;
      if (search !== f.q) change({ ...f, q: search });
    }, 300);
    return () => clearTimeout(id);
  }, [search]);

  const { domains, total, hasMore, loading, loadingMore, refreshing } = data;
  return (
    <section className="card" aria-labelledby="domains-title">
      <div className="section-head">
        <h2 id="domains-title">Domains</h2>
        <span className="muted small" data-testid="domain-count" aria-live="polite">
          {total === null ? '' : `${formatCount(domains.length)} of ${formatCount(total)} shown`}
        </span>
      </div>
      <div className="filters" role="search">
        <div className="field field-inline">
          <label htmlFor="filter-status">Status</label>
          <select
            id="filter-status"
            value={filters.status}
            onChange={(e) => onFiltersChange({ ...filters, status: e.target.value as DomainFilters['status'] })}
            data-testid="filter-status"
          >
            <option value="">All</option>
            <option value="generated">Generated (pending)</option>
            <option value="validated">Validated</option>
            <option value="failed">Failed</option>
          </select>
        </div>
        <div className="field field-inline">
          <label htmlFor="filter-phase">Phase</label>
          <select
            id="filter-phase"
            value={filters.phase}
            onChange={(e) => onFiltersChange({ ...filters, phase: e.target.value as DomainFilters['phase'] })}
            data-testid="filter-phase"
          >
            <option value="">Any</option>
            <option value="dns">DNS</option>
            <option value="http">HTTP</option>
            <option value="analysis">Analysis</option>
          </select>
        </div>
        <div className="field field-inline field-grow">
          <label htmlFor="domain-search">Search</label>
          <input
            id="domain-search"
            type="search"
            placeholder="part of a name"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') onFiltersChange({ ...filters, q: search });
            }}
            data-testid="domain-search"
          />
        </div>
        <button type="button" className="btn" onClick={() => void data.refresh()} disabled={refreshing} data-testid="refresh">
          {refreshing ? 'Refreshing…' : 'Refresh'}
        </button>
      </div>
      <div className="table-wrap">
        <table className="table" data-testid="domain-table">
          <thead>
            <tr>
              <th scope="col" className="num">#</th>
              <th scope="col">Domain</th>
              <th scope="col">DNS</th>
              <th scope="col">HTTP</th>
              <th scope="col">Title</th>
              <th scope="col">Keywords</th>
              <th scope="col" className="num">Lead</th>
              <th scope="col" className="col-toggle">
                <span className="visually-hidden">Details</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {domains.map((d) => {
              const expanded = open.has(d.offset_index);
              const detailsId = `domain-details-${d.offset_index}`;
              return (
                <Fragment key={d.offset_index}>
                  <tr data-testid="domain-row" data-domain={d.name} data-status={d.status} className={expanded ? 'row-open' : undefined}>
                    <td className="num muted">{d.offset_index}</td>
                    <td className="mono" data-testid="domain-name">
                      {d.name}
                    </td>
                    <td data-testid="domain-dns">{dnsCell(d, config?.dns.max_attempts)}</td>
                    <td data-testid="domain-http">{httpCell(d)}</td>
                    <td className="cell-title" data-testid="domain-title">
                      {d.http_result?.title ?? ''}
                    </td>
                    <td data-testid="domain-keywords">{d.http_result?.keywords_found?.join(', ') ?? ''}</td>
                    <td className="num" data-testid="domain-lead">
                      <span className={`lead lead-${d.lead_status}`} title={scoreTooltip(d.score_breakdown, d.lead_score)} data-testid="domain-score">
                        {d.lead_score}
                      </span>
                      <span className="muted small"> {d.lead_status.replace('_', ' ')}</span>
                    </td>
                    <td className="col-toggle">
                      <button
                        type="button"
                        className="btn btn-small btn-disclosure"
                        aria-expanded={expanded}
                        aria-controls={expanded ? detailsId : undefined}
                        aria-label={`Details of ${d.name}`}
                        title={expanded ? 'Hide the details' : 'DNS records, HTTP answer and score breakdown'}
                        onClick={() => toggle(d.offset_index)}
                        data-testid="domain-details-toggle"
                      >
                        <span aria-hidden="true">{expanded ? '▾' : '▸'}</span>
                      </button>
                    </td>
                  </tr>
                  {expanded && (
                    <tr className="details-row" id={detailsId} data-testid="domain-details" data-domain={d.name}>
                      <td colSpan={COLUMNS}>
                        <DomainDetails d={d} config={config} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
          </tbody>
        </table>
        {loading && (
          <p className="muted table-note" data-testid="domains-loading">
            Loading domains…
          </p>
        )}
        {!loading && domains.length === 0 && total !== null && (
          <p className="muted table-note" data-testid="domains-empty">
            {filters.status || filters.phase || filters.q ? 'No domains match these filters.' : 'No domains yet.'}
          </p>
        )}
      </div>
      {hasMore && (
        <div className="load-more">
          <button type="button" className="btn" onClick={() => void data.loadMore()} disabled={loadingMore} data-testid="load-more">
            {loadingMore ? 'Loading…' : 'Load more'}
          </button>
        </div>
      )}
    </section>
  );
}

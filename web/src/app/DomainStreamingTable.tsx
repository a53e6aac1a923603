import { useEffect, useRef, useState } from 'react';
import type { Domain, DomainFilterPhase, DomainFilterStatus } from '../api/types';
import type { UseDomainDataResult } from '../hooks/useDomainData';
import { formatCount } from './format';

export interface DomainFilters {
  status: DomainFilterStatus | '';
  phase: DomainFilterPhase | '';
  q: string;
}

export interface DomainStreamingTableProps {
  data: UseDomainDataResult;
  filters: DomainFilters;
  onFiltersChange: (f: DomainFilters) => void;
}

function dnsCell(d: Domain) {
  const r = d.dns_result;
  const detail = d.dns_status === 'ok' ? r?.addresses?.slice(0, 2).join(', ') : r?.reason ?? r?.error;
  return (
    <>
      <span className={`pill pill-${d.dns_status}`}>{d.dns_status}</span>
      {detail && <span className="muted small cell-detail">{detail}</span>}
    </>
  );
}

function httpCell(d: Domain) {
  const r = d.http_result;
  if (r?.status_code) return <span className={`code code-${String(r.status_code)[0]}xx`}>{r.status_code}</span>;
  return <span className={`pill pill-${d.http_status}`}>{d.http_status}</span>;
}

/**
 * The domains of a campaign over REST (no WebSocket streaming): filters, search, Refresh
 * and Load More; the rows come from useDomainData.
 */
export function DomainStreamingTable({ data, filters, onFiltersChange }: DomainStreamingTableProps) {
  const [search, setSearch] = useState(filters.q);
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
            </tr>
          </thead>
          <tbody>
            {domains.map((d) => (
              <tr key={d.offset_index} data-testid="domain-row" data-domain={d.name} data-status={d.status}>
                <td className="num muted">{d.offset_index}</td>
                <td className="mono" data-testid="domain-name">
                  {d.name}
                </td>
                <td data-testid="domain-dns">{dnsCell(d)}</td>
                <td data-testid="domain-http">{httpCell(d)}</td>
                <td className="cell-title" data-testid="domain-title">
                  {d.http_result?.title ?? ''}
                </td>
                <td data-testid="domain-keywords">{d.http_result?.keywords_found?.join(', ') ?? ''}</td>
                <td className="num" data-testid="domain-lead">
                  <span className={`lead lead-${d.lead_status}`}>{d.lead_score}</span>
                  <span className="muted small"> {d.lead_status.replace('_', ' ')}</span>
                </td>
              </tr>
            ))}
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

import type { ResolverStats, WildcardZone } from '../api/types';
import { formatCount, formatDate, formatMs, formatShare } from './format';

export interface ResolversPanelProps {
  /** The campaign's resolvers with their figures; null until read. */
  resolvers: ResolverStats[] | null;
  /** The resolvers the campaign was configured with (empty: the system's). */
  configured: readonly string[];
  /** The wildcard zones found; undefined before the check (just before the DNS phase). */
  wildcards: WildcardZone[] | undefined;
  /** Names whose answer was a wildcard zone's (the summary's dns.wildcard). */
  wildcardCount: number | undefined;
  /** The DNS phase has started (so the wildcard check is due). */
  dnsStarted?: boolean;
  lastUpdated: Date | null;
  refreshing: boolean;
  onRefresh: () => void;
}

function ResolverState({ r }: { r: ResolverStats }) {
  if (r.state === 'demoted') {
    return (
      <>
        <span
          className="badge badge-demoted"
          data-testid="resolver-state"
          data-state="demoted"
          title="Taken out of rotation for its timeouts and errors; probed now and then, restored when it answers again"
        >
          demoted
        </span>
        {r.demoted_at && <span className="muted small cell-detail">since {formatDate(r.demoted_at)}</span>}
      </>
    );
  }
  return (
    <span className="badge badge-active" data-testid="resolver-state" data-state={r.state}>
      {r.state}
    </span>
  );
}

/** A count with its share of the queries, e.g. "12 (4%)". */
function CountOf({ n, queries, testId }: { n: number; queries: number; testId: string }) {
  const share = n > 0 ? formatShare(n, queries) : null;
  return (
    <>
      <span data-testid={testId}>{formatCount(n)}</span>
      {share && <span className="muted small"> ({share})</span>}
    </>
  );
}

function WildcardZones({ wildcards, wildcardCount, dnsStarted }: { wildcards: WildcardZone[] | undefined; wildcardCount: number | undefined; dnsStarted: boolean }) {
  return (
    <div className="wildcards" data-testid="wildcard-zones">
      <h3>Wildcard zones</h3>
      {wildcards === undefined ? (
        <p className="muted small" data-testid="wildcard-unchecked">
          {dnsStarted
            ? 'No wildcard check is recorded for this campaign.'
            : 'Not checked yet: zones that answer every name are looked for just before the DNS phase.'}
        </p>
      ) : wildcards.length === 0 ? (
        <p className="muted small" data-testid="wildcard-none">
          None found: no zone the campaign queries answers every name.
        </p>
      ) : (
        <ul className="zone-list">
          {wildcards.map((z) => (
            <li key={z.zone} data-testid="wildcard-zone" data-zone={z.zone}>
              <span className="mono">{z.zone}</span> <span className="muted">answers every name with</span>{' '}
              <span className="mono" data-testid="wildcard-addresses">
                {z.addresses.length > 0 ? z.addresses.join(', ') : '–'}
              </span>
              {z.cnames && z.cnames.length > 0 && (
                <span className="muted small">
                  {' '}
                  (via <span className="mono">{z.cnames.join(' → ')}</span>)
                </span>
              )}
            </li>
          ))}
        </ul>
      )}
      {wildcardCount !== undefined && (
        <p className="small">
          Names that got a wildcard answer: <strong data-testid="wildcard-count">{formatCount(wildcardCount)}</strong>{' '}
          <span className="muted">(counted as failed in DNS; never fetched, never a lead)</span>
        </p>
      )}
    </div>
  );
}

/** The campaign's DNS resolvers — state and figures — and the wildcard zones found. */
export function ResolversPanel({ resolvers, configured, wildcards, wildcardCount, dnsStarted = false, lastUpdated, refreshing, onRefresh }: ResolversPanelProps) {
  const demoted = resolvers?.filter((r) => r.state === 'demoted').length ?? 0;
  return (
    <section className="card" aria-labelledby="resolvers-title" data-testid="resolvers-panel">
      <div className="section-head">
        <div>
          <h2 id="resolvers-title">Resolvers</h2>
          {resolvers && resolvers.length > 0 && (
            <p className="muted small" data-testid="resolvers-summary">
              {resolvers.length} {resolvers.length === 1 ? 'resolver' : 'resolvers'}
              {demoted > 0 ? `, ${demoted} demoted` : ', all active'}
            </p>
          )}
        </div>
        <div className="toolbar">
          {lastUpdated && <span className="muted small toolbar-note">Updated {lastUpdated.toLocaleTimeString()}</span>}
          <button type="button" className="btn btn-small" onClick={onRefresh} disabled={refreshing} aria-label="Refresh the resolvers" data-testid="resolvers-refresh">
            {refreshing ? 'Refreshing…' : 'Refresh'}
          </button>
        </div>
      </div>
      {resolvers === null && <p className="muted">Loading the resolvers…</p>}
      {resolvers && resolvers.length === 0 && (
        <p className="muted" data-testid="resolvers-empty">
          {configured.length === 0 ? 'The campaign uses the system resolvers; none has reported figures yet.' : 'No resolver figures yet.'}
        </p>
      )}
      {resolvers && resolvers.length > 0 && (
        <div className="table-wrap">
          <table className="table" data-testid="resolver-table">
            <thead>
              <tr>
                <th scope="col">Resolver</th>
                <th scope="col">State</th>
                <th scope="col" className="num">Queries</th>
                <th scope="col" className="num">Answers</th>
                <th scope="col" className="num">NXDOMAIN</th>
                <th scope="col" className="num">Timeouts</th>
                <th scope="col" className="num">Errors</th>
                <th scope="col" className="num" title="Median time to an answer">
                  p50
                </th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              {resolvers.map((r) => (
                <tr key={r.address} className={r.state === 'demoted' ? 'row-demoted' : undefined} data-testid="resolver-row" data-address={r.address} data-state={r.state}>
                  <td className="mono" data-testid="resolver-address">
                    {r.address}
                  </td>
                  <td>
                    <ResolverState r={r} />
                  </td>
                  <td className="num" data-testid="resolver-queries">
                    {formatCount(r.queries)}
                  </td>
                  <td className="num">
                    <CountOf n={r.answers} queries={r.queries} testId="resolver-answers" />
                  </td>
                  <td className="num">
                    <CountOf n={r.nxdomain} queries={r.queries} testId="resolver-nxdomain" />
                  </td>
                  <td className="num">
                    <CountOf n={r.timeouts} queries={r.queries} testId="resolver-timeouts" />
                  </td>
                  <td className="num">
                    <CountOf n={r.errors} queries={r.queries} testId="resolver-errors" />
                  </td>
                  <td className="num" data-testid="resolver-p50">
                    {formatMs(r.latency_p50_ms)}
                  </td>
                  <td className="cell-title small" title={r.last_error || undefined} data-testid="resolver-last-error">
                    {r.last_error || <span className="muted">–</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <WildcardZones wildcards={wildcards} wildcardCount={wildcardCount} dnsStarted={dnsStarted} />
    </section>
  );
}

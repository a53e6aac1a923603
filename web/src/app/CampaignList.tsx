import type { Campaign, CampaignWarning } from '../api/types';
import { useCampaigns } from '../hooks/useCampaigns';
import { ErrorBanner } from './ErrorBanner';
import { formatCount, formatDate, PHASE_LABELS } from './format';
import { LifecycleButtons } from './LifecycleButtons';
import { mergeProgress, useLiveProgress } from './liveProgress';
import { ProgressBar } from './ProgressBar';
import { hrefFor } from './router';
import { StalledBadge, StatusBadge } from './StatusBadge';

/** A badge saying a campaign has warnings; their messages in its tooltip. Nothing without any. */
export function WarningBadge({ warnings }: { warnings: readonly CampaignWarning[] | undefined }) {
  if (!warnings || warnings.length === 0) return null;
  const label = warnings.length === 1 ? '1 warning' : `${warnings.length} warnings`;
  return (
    <span className="badge badge-warning" title={warnings.map((w) => w.message).join('\n')} data-testid="campaign-warning-badge" data-count={warnings.length}>
      <span aria-hidden="true">⚠ </span>
      {label}
      <span className="visually-hidden">: {warnings.map((w) => w.message).join('; ')}</span>
    </span>
  );
}

/** Every campaign of the user with live progress (WebSocket) over the polled list. */
export function CampaignList() {
  const { overview, loading, error, retryInSeconds, retry, refresh, setOverview } = useCampaigns();
  const live = useLiveProgress();

  function replace(updated: Campaign) {
    if (!overview) return;
    setOverview({ ...overview, campaigns: overview.campaigns.map((c) => (c.id === updated.id ? updated : c)) });
    void refresh();
  }

  return (
    <section aria-labelledby="campaigns-title">
      <div className="section-head">
        <h1 id="campaigns-title">Campaigns</h1>
        <div className="toolbar">
          <button type="button" className="btn" onClick={() => void refresh()} data-testid="campaigns-refresh">
            Refresh
          </button>
          <a className="btn btn-primary" href={hrefFor({ name: 'new' })} data-testid="new-campaign-link">
            New campaign
          </a>
        </div>
      </div>
      {error && <ErrorBanner error={error} retryInSeconds={retryInSeconds} onRetry={retry} what="Loading campaigns" />}
      {loading && <p className="muted" data-testid="campaigns-loading">Loading campaigns…</p>}
      {overview && overview.campaigns.length === 0 && (
        <div className="card empty" data-testid="campaigns-empty">
          <p>No campaigns yet.</p>
          <a className="btn btn-primary" href={hrefFor({ name: 'new' })}>
            Create your first campaign
          </a>
        </div>
      )}
      {overview && overview.campaigns.length > 0 && (
        <div className="table-wrap">
          <table className="table" data-testid="campaign-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Phase</th>
                <th scope="col" className="col-progress">Progress</th>
                <th scope="col" className="num">Domains</th>
                <th scope="col" className="num">Leads</th>
                <th scope="col">Created</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {overview.campaigns.map((c) => {
                const { status, phase, percent, generated, leads, stalledSince } = mergeProgress(c, overview.summaries[c.id], live[c.id]);
                return (
                  <tr key={c.id} data-testid="campaign-row" data-campaign-id={c.id} data-campaign-name={c.name}>
                    <td>
                      <a href={hrefFor({ name: 'campaign', id: c.id })} data-testid="campaign-link">
                        {c.name}
                      </a>
                      {c.description && <div className="muted small">{c.description}</div>}
                    </td>
                    <td>
                      <div className="badges">
                        <StatusBadge status={status} />
                        <StalledBadge status={status} stalledSince={stalledSince} />
                        <WarningBadge warnings={c.warnings} />
                      </div>
                    </td>
                    <td data-testid="campaign-phase">{phase ? PHASE_LABELS[phase] : '–'}</td>
                    <td className="col-progress">
                      <ProgressBar percent={percent} label={`Progress of ${c.name}`} testId="campaign-progress-percent" />
                    </td>
                    <td className="num" data-testid="campaign-domains">
                      {formatCount(generated)} / {formatCount(c.total_domains)}
                    </td>
                    <td className="num" data-testid="campaign-leads">
                      {formatCount(leads)}
                    </td>
                    <td className="small">{formatDate(c.created_at)}</td>
                    <td>
                      <LifecycleButtons campaign={c} status={status} onChanged={replace} compact />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {overview.total > overview.campaigns.length && (
            <p className="muted small">
              Showing the newest {overview.campaigns.length} of {overview.total} campaigns.
            </p>
          )}
        </div>
      )}
    </section>
  );
}

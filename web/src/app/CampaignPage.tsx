import { useCallback, useState } from 'react';
import { unwrap } from '../api/client';
import { toApiError, type ApiError } from '../api/errors';
import { isActiveStatus, type Campaign } from '../api/types';
import { useApiClient } from '../hooks/context';
import { pollingIntervalFor } from '../hooks/polling';
import { useCampaign } from '../hooks/useCampaigns';
import { useDomainData } from '../hooks/useDomainData';
import { useDomainStatusSummary } from '../hooks/useDomainStatusSummary';
import { useResolvers } from '../hooks/useResolvers';
import { DomainStreamingTable, type DomainFilters } from './DomainStreamingTable';
import { ErrorBanner } from './ErrorBanner';
import { describeError, formatCount, formatDate, PHASE_LABELS } from './format';
import { LifecycleButtons } from './LifecycleButtons';
import { mergeProgress, useLiveProgress } from './liveProgress';
import { ResolversPanel } from './ResolversPanel';
import { hrefFor, navigate } from './router';
import { StalledBadge, StatusBadge } from './StatusBadge';
import { StatusSummaryView } from './StatusSummaryView';

const NO_FILTERS: DomainFilters = { status: '', phase: '', q: '' };

/** One campaign: header with lifecycle buttons, the status summary, and its domains. */
export function CampaignPage({ id }: { id: string }) {
  const { campaign, setCampaign, error: campaignError, retryInSeconds: campaignRetry, retry: retryCampaign, loading } = useCampaign(id);
  const live = useLiveProgress(id)[id];
  const merged = campaign ? mergeProgress(campaign, null, live) : undefined;
  const status = merged?.status;
  const interval = pollingIntervalFor(status);

  const summary = useDomainStatusSummary(id, true, { interval });
  const [filters, setFilters] = useState<DomainFilters>(NO_FILTERS);
  const domains = useDomainData(id, {
    interval,
    status: filters.status || null,
    phase: filters.phase || null,
    q: filters.q || null,
  });
  const onFiltersChange = useCallback((f: DomainFilters) => setFilters(f), []);
  // The figures change only while the campaign works: read once otherwise (and on its events).
  const resolvers = useResolvers(id, { interval, enablePolling: isActiveStatus(status) });

  // One banner for the page: the first failing request, with the soonest retry.
  const failing = [
    { error: campaignError, retryIn: campaignRetry, retry: retryCampaign },
    { error: summary.error, retryIn: summary.retryInSeconds, retry: summary.retry },
    { error: domains.error, retryIn: domains.retryInSeconds, retry: domains.retry },
    { error: resolvers.error, retryIn: resolvers.retryInSeconds, retry: resolvers.retry },
  ].filter((f): f is { error: ApiError; retryIn: number | null; retry: () => void } => f.error !== null);
  const retryAll = () => failing.forEach((f) => f.retry());
  const soonest = failing.reduce<number | null>((m, f) => (f.retryIn === null ? m : m === null ? f.retryIn : Math.min(m, f.retryIn)), null);
  const notFound = !campaign && campaignError?.status === 404;

  if (notFound) {
    return (
      <section className="card empty" data-testid="campaign-not-found">
        <h1>Campaign not found</h1>
        <p className="muted">It does not exist, or it is not yours.</p>
        <a className="btn" href={hrefFor({ name: 'campaigns' })}>
          Back to campaigns
        </a>
      </section>
    );
  }

  return (
    <div className="campaign-page">
      <nav className="breadcrumbs" aria-label="Breadcrumb">
        <a href={hrefFor({ name: 'campaigns' })}>Campaigns</a> <span aria-hidden="true">/</span> <span>{campaign?.name ?? '…'}</span>
      </nav>
      {failing.length > 0 && <ErrorBanner error={failing[0].error} retryInSeconds={soonest} onRetry={retryAll} />}
      {loading && !campaign && <p className="muted">Loading campaign…</p>}
      {campaign && <CampaignHeader campaign={campaign} liveStatus={status ?? campaign.status} stalledSince={merged?.stalledSince} livePhase={live && live.at >= Date.parse(campaign.updated_at) ? live.current_phase : campaign.current_phase} onChanged={(c) => {
        setCampaign(c);
        void summary.refresh();
        void domains.refresh();
        void resolvers.refresh();
      }} />}
      {summary.summary ? (
        <StatusSummaryView summary={summary.summary} />
      ) : (
        !summary.error && <p className="muted">Loading the status summary…</p>
      )}
      {campaign && (
        <ResolversPanel
          resolvers={resolvers.resolvers}
          configured={campaign.config.dns.resolvers ?? []}
          wildcards={campaign.wildcards}
          wildcardCount={summary.summary?.dns.wildcard}
          dnsStarted={!!campaign.current_phase && campaign.current_phase !== 'generation'}
          lastUpdated={resolvers.lastUpdated}
          refreshing={resolvers.refreshing}
          onRefresh={() => void resolvers.refresh()}
        />
      )}
      <DomainStreamingTable data={domains} filters={filters} onFiltersChange={onFiltersChange} config={campaign?.config} />
    </div>
  );
}

function CampaignHeader({
  campaign,
  liveStatus,
  stalledSince,
  livePhase,
  onChanged,
}: {
  campaign: Campaign;
  liveStatus: Campaign['status'];
  stalledSince: string | null | undefined;
  livePhase: Campaign['current_phase'];
  onChanged: (c: Campaign) => void;
}) {
  const g = campaign.config.generation;
  return (
    <section className="card campaign-head" aria-labelledby="campaign-title">
      <div className="section-head">
        <div>
          <h1 id="campaign-title" data-testid="campaign-name">
            {campaign.name}
          </h1>
          {campaign.description && <p className="muted">{campaign.description}</p>}
        </div>
        <div className="head-status">
          <StatusBadge status={liveStatus} />
          <StalledBadge status={liveStatus} stalledSince={stalledSince} />
          <span className="muted" data-testid="campaign-phase">
            {livePhase ? `Phase: ${PHASE_LABELS[livePhase]}` : 'Not started'}
          </span>
        </div>
      </div>
      <LifecycleButtons campaign={campaign} status={liveStatus} onChanged={onChanged} />
      {campaign.error && (
        <p className="inline-error" data-testid="campaign-error">
          {campaign.error}
        </p>
      )}
      {campaign.warnings && campaign.warnings.length > 0 && (
        <div className="banner banner-warning" role="status" data-testid="campaign-warnings">
          <div className="banner-text">
            <strong>{campaign.warnings.length === 1 ? 'Warning' : `${campaign.warnings.length} warnings`}</strong>
            <ul>
              {campaign.warnings.map((w, i) => (
                <li key={`${w.code}:${i}`} data-testid="campaign-warning" data-code={w.code}>
                  {w.message}
                </li>
              ))}
            </ul>
          </div>
        </div>
      )}
      <dl className="config">
        <div>
          <dt>Pattern</dt>
          <dd>
            {g.pattern_type} · constant “{g.constant_string ?? ''}” · charset “{g.character_set}” · length {g.variable_length}
          </dd>
        </div>
        <div>
          <dt>TLDs</dt>
          <dd>{g.tlds.join(' ')}</dd>
        </div>
        <div>
          <dt>Domains</dt>
          <dd>
            {formatCount(campaign.total_domains)} (max {formatCount(g.max_domains)})
          </dd>
        </div>
        <div>
          <dt>Resolvers</dt>
          <dd>{campaign.config.dns.resolvers?.length ? campaign.config.dns.resolvers.join(' ') : 'system'}</dd>
        </div>
        <div>
          <dt>DNS tries per name</dt>
          <dd data-testid="config-max-attempts">
            {campaign.config.dns.max_attempts ?? '–'}
            {campaign.config.dns.retries !== undefined && <span className="muted small"> ({campaign.config.dns.retries + 1} per pass)</span>}
          </dd>
        </div>
        <div>
          <dt>Keywords</dt>
          <dd>{campaign.config.http.keywords?.length ? campaign.config.http.keywords.join(', ') : '–'}</dd>
        </div>
        <div>
          <dt>Min lead score</dt>
          <dd data-testid="config-min-lead-score">
            {campaign.config.analysis.min_lead_score ?? '–'}
            {campaign.config.http.keywords?.length ? <span className="muted small"> and a keyword found</span> : null}
          </dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{formatDate(campaign.created_at)}</dd>
        </div>
      </dl>
      <DeleteButton campaign={campaign} />
    </section>
  );
}

function DeleteButton({ campaign }: { campaign: Campaign }) {
  const client = useApiClient();
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  async function remove() {
    try {
      await unwrap(client.DELETE('/api/v1/campaigns/{campaignId}', { params: { path: { campaignId: campaign.id } } }));
      navigate({ name: 'campaigns' });
    } catch (err) {
      setError(toApiError(err));
      setConfirming(false);
    }
  }
  return (
    <div className="danger-zone">
      {confirming ? (
        <>
          <span>Delete “{campaign.name}” and all its domains?</span>
          <button type="button" className="btn btn-small btn-danger" onClick={() => void remove()} data-testid="delete-confirm">
            Delete
          </button>
          <button type="button" className="btn btn-small" onClick={() => setConfirming(false)}>
            Keep it
          </button>
        </>
      ) : (
        <button type="button" className="btn btn-small btn-link-danger" onClick={() => setConfirming(true)} data-testid="action-delete">
          Delete campaign
        </button>
      )}
      {error && (
        <span className="inline-error" role="alert">
          {describeError(error)}
        </span>
      )}
    </div>
  );
}

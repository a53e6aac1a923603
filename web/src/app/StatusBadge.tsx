import type { CampaignStatus } from '../api/types';
import { STATUS_LABELS } from './format';

export function StatusBadge({ status, testId = 'campaign-status' }: { status: CampaignStatus; testId?: string }) {
  return (
    <span className={`badge badge-${status}`} data-testid={testId} data-status={status}>
      {STATUS_LABELS[status] ?? status}
    </span>
  );
}

/**
 * A badge saying a queued or running campaign waits to be taken over: the
 * instance working it stopped answering. Nothing otherwise.
 */
export function StalledBadge({ status, stalledSince }: { status: CampaignStatus; stalledSince: string | null | undefined }) {
  if (!stalledSince || (status !== 'queued' && status !== 'running')) return null;
  const since = new Date(stalledSince);
  const title = `The instance working this campaign stopped answering (at ${since.toLocaleTimeString()}); another instance takes it over within seconds.`;
  return (
    <span className="badge badge-stalled" title={title} data-testid="campaign-stalled-badge">
      Stalled
      <span className="visually-hidden">: {title}</span>
    </span>
  );
}

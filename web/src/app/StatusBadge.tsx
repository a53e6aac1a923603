import type { CampaignStatus } from '../api/types';
import { STATUS_LABELS } from './format';

export function StatusBadge({ status, testId = 'campaign-status' }: { status: CampaignStatus; testId?: string }) {
  return (
    <span className={`badge badge-${status}`} data-testid={testId} data-status={status}>
      {STATUS_LABELS[status] ?? status}
    </span>
  );
}

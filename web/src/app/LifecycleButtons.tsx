import { useState } from 'react';
import { unwrap } from '../api/client';
import { toApiError, type ApiError } from '../api/errors';
import type { Campaign, CampaignStatus } from '../api/types';
import { useApiClient } from '../hooks/context';
import { describeError } from './format';

export type LifecycleAction = 'start' | 'pause' | 'resume' | 'cancel';

/** The statuses each lifecycle call is allowed from (the server's state machine). */
export const ALLOWED_FROM: Record<LifecycleAction, readonly CampaignStatus[]> = {
  start: ['draft'],
  pause: ['queued', 'running'],
  resume: ['paused'],
  cancel: ['draft', 'queued', 'running', 'paused'],
};

const LABELS: Record<LifecycleAction, string> = { start: 'Start', pause: 'Pause', resume: 'Resume', cancel: 'Cancel' };

export function allowed(action: LifecycleAction, status: CampaignStatus): boolean {
  return ALLOWED_FROM[action].includes(status);
}

export interface LifecycleButtonsProps {
  campaign: Campaign;
  /** The live status, when newer than the campaign's (from the WebSocket). */
  status?: CampaignStatus;
  onChanged: (campaign: Campaign) => void;
  compact?: boolean;
}

/** Start / Pause / Resume / Cancel, each enabled only in the statuses that allow it. */
export function LifecycleButtons({ campaign, status = campaign.status, onChanged, compact }: LifecycleButtonsProps) {
  const client = useApiClient();
  const [busy, setBusy] = useState<LifecycleAction | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  async function run(action: LifecycleAction) {
    setBusy(action);
    setError(null);
    const path = {
      start: '/api/v1/campaigns/{campaignId}/start',
      pause: '/api/v1/campaigns/{campaignId}/pause',
      resume: '/api/v1/campaigns/{campaignId}/resume',
      cancel: '/api/v1/campaigns/{campaignId}/cancel',
    } as const;
    try {
      const updated = await unwrap(client.POST(path[action], { params: { path: { campaignId: campaign.id } } }));
      onChanged(updated);
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setBusy(null);
    }
  }

  return (
    <div className={`lifecycle${compact ? ' lifecycle-compact' : ''}`} role="group" aria-label={`Actions for ${campaign.name}`}>
      {(Object.keys(LABELS) as LifecycleAction[]).map((action) => (
        <button
          key={action}
          type="button"
          className={`btn btn-small${action === 'cancel' ? ' btn-danger' : action === 'start' || action === 'resume' ? ' btn-primary' : ''}`}
          disabled={busy !== null || !allowed(action, status)}
          onClick={() => void run(action)}
          data-testid={`action-${action}`}
          aria-label={`${LABELS[action]} ${campaign.name}`}
        >
          {busy === action ? `${LABELS[action]}…` : LABELS[action]}
        </button>
      ))}
      {error && (
        <span className="inline-error" role="alert" data-testid="action-error">
          {describeError(error)}
        </span>
      )}
    </div>
  );
}

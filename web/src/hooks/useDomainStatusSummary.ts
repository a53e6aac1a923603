import { conditional, ifNoneMatch } from '../api/client';
import type { StatusSummary } from '../api/types';
import { usePolledResource, type PollingOptions, type PollStatus } from './usePolledResource';

export interface UseDomainStatusSummaryResult extends PollStatus {
  summary: StatusSummary | null;
}

/**
 * A campaign's status summary (GET …/domains/status): counts per phase and status, leads,
 * progress and current phase — polled with If-None-Match, backoff on errors, and an
 * immediate poll on a domains_changed hint for the campaign.
 */
export function useDomainStatusSummary(
  campaignId: string | null | undefined,
  enablePolling = true,
  options: PollingOptions = {},
): UseDomainStatusSummaryResult {
  const { data, mutate: _mutate, ...rest } = usePolledResource<StatusSummary>(
    campaignId ? `summary:${campaignId}` : null,
    (client, signal, etag) =>
      conditional(
        client.GET('/api/v1/campaigns/{campaignId}/domains/status', {
          params: { path: { campaignId: campaignId as string }, header: ifNoneMatch(etag) },
          signal,
        }),
      ),
    { ...options, polling: enablePolling, campaignId: campaignId ?? null, hintTypes: ['domains_changed'] },
  );
  void _mutate;
  return { summary: data, ...rest };
}

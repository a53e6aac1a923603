import { conditional } from '../api/client';
import type { ResolverList, ResolverStats } from '../api/types';
import type { CampaignProgressData, RealtimeEvent } from '../realtime';
import { usePolledResource, type PollingOptions, type PollStatus } from './usePolledResource';

/**
 * Hint-driven reads of the resolver figures are at least this far apart (ms): progress
 * events come several times a second during the DNS phase, and the figures are only
 * worth reading every few seconds.
 */
export const RESOLVERS_MIN_HINT_GAP_MS = 5000;

export interface UseResolversOptions extends PollingOptions {
  /** Poll on the interval (default true); false reads once, then on hints, refresh and retries. */
  enablePolling?: boolean;
}

export interface UseResolversResult extends PollStatus {
  /** The campaign's resolvers with their figures; null until read. */
  resolvers: ResolverStats[] | null;
}

/** A campaign event after which the resolver figures may have changed. */
function resolversChanged(ev: RealtimeEvent): boolean {
  // Resolvers are only queried in the DNS phase (and probed just before it).
  if (ev.type === 'campaign_progress') return (ev.data as CampaignProgressData).current_phase === 'dns';
  return true;
}

/**
 * A campaign's DNS resolvers (GET …/resolvers): state (active or demoted) and figures.
 * The answer has no ETag, so an answer equal to the last one keeps the data as it is
 * (same object, no render). Read at once on a campaign_progress of the DNS phase, a
 * phase_transition or campaign_completed of the campaign (at most every 5 s).
 */
export function useResolvers(campaignId: string | null | undefined, options: UseResolversOptions = {}): UseResolversResult {
  const { enablePolling = true, ...polling } = options;
  const { data, mutate: _mutate, ...rest } = usePolledResource<ResolverList>(
    campaignId ? `resolvers:${campaignId}` : null,
    async (client, signal, etag) => {
      const r = await conditional(
        client.GET('/api/v1/campaigns/{campaignId}/resolvers', { params: { path: { campaignId: campaignId as string } }, signal }),
      );
      if (r.notModified) return r;
      // The body stands in for the ETag the server does not send.
      const tag = r.etag ?? JSON.stringify(r.data);
      return tag === etag ? { notModified: true, etag } : { ...r, etag: tag };
    },
    {
      minHintGapMs: RESOLVERS_MIN_HINT_GAP_MS,
      ...polling,
      polling: enablePolling,
      campaignId: campaignId ?? null,
      hintTypes: ['campaign_progress', 'phase_transition', 'campaign_completed'],
      hintFilter: (ev) => resolversChanged(ev),
    },
  );
  void _mutate;
  return { resolvers: data?.items ?? null, ...rest };
}

import { useState } from 'react';
import { conditional, ifNoneMatch, unwrap } from '../api/client';
import type { Campaign, CampaignStatus, StatusSummary } from '../api/types';
import type { CampaignProgressData, RealtimeEvent } from '../realtime';
import { POLLING_INTERVALS, pollingIntervalFor } from './polling';
import { usePolledResource, type PollingOptions, type PollStatus } from './usePolledResource';

export interface UseCampaignResult extends PollStatus {
  campaign: Campaign | null;
  /** Replaces the campaign (for example with a lifecycle call's answer) until the next poll. */
  setCampaign: (c: Campaign) => void;
}

/** A campaign event that changes what GET /campaigns/{id} answers (not every progress tick). */
function campaignChanged(ev: RealtimeEvent, current: Campaign | null | undefined): boolean {
  if (ev.type === 'phase_transition' || ev.type === 'campaign_completed') return true;
  if (ev.type === 'campaign_progress') {
    const d = ev.data as CampaignProgressData;
    return !current || d.status !== current.status || (d.current_phase ?? null) !== (current.current_phase ?? null);
  }
  return false;
}

/**
 * One campaign, polled with If-None-Match (every 10 s while queued or running, every
 * minute otherwise), and at once when a realtime event says its status or phase changed.
 */
export function useCampaign(campaignId: string | null | undefined, options: PollingOptions = {}): UseCampaignResult {
  const [status, setStatus] = useState<CampaignStatus | undefined>(undefined);
  const res = usePolledResource<Campaign>(
    campaignId ? `campaign:${campaignId}` : null,
    (client, signal, etag) =>
      conditional(
        client.GET('/api/v1/campaigns/{campaignId}', {
          params: { path: { campaignId: campaignId as string }, header: ifNoneMatch(etag) },
          signal,
        }),
      ),
    {
      ...options,
      interval: options.interval ?? pollingIntervalFor(status),
      campaignId: campaignId ?? null,
      hintTypes: ['campaign_progress', 'phase_transition', 'campaign_completed'],
      hintFilter: (ev, current) => campaignChanged(ev, current as Campaign | null),
    },
  );
  // The interval follows the campaign's status.
  const current = res.data?.status;
  if (current !== status) setStatus(current);
  const { data, mutate, ...rest } = res;
  return { campaign: data, setCampaign: mutate, ...rest };
}

export interface CampaignOverview {
  campaigns: Campaign[];
  total: number;
  /** Status summaries by campaign id (from the bulk enriched-data call). */
  summaries: Record<string, StatusSummary>;
}

export interface UseCampaignsResult extends PollStatus {
  overview: CampaignOverview | null;
  setOverview: (o: CampaignOverview) => void;
}

/**
 * The caller's campaigns (newest first, up to `limit`) with their status summaries, polled
 * every 30 s (DASHBOARD_VIEW) and at once when a campaign appears, changes status or phase,
 * or ends.
 */
export function useCampaigns(options: PollingOptions & { limit?: number } = {}): UseCampaignsResult {
  const limit = options.limit ?? 100;
  const res = usePolledResource<CampaignOverview>(
    `campaigns:${limit}`,
    async (client, signal, etag) => {
      const list = await conditional(
        client.GET('/api/v1/campaigns', { params: { query: { limit } }, headers: ifNoneMatch(etag), signal }),
      );
      if (list.notModified) return list;
      const campaigns = list.data.items;
      const summaries: Record<string, StatusSummary> = {};
      if (campaigns.length > 0) {
        const bulk = await unwrap(
          client.POST('/api/v1/campaigns/bulk/enriched-data', {
            body: { campaign_ids: campaigns.slice(0, 100).map((c) => c.id), limit: 1 },
            signal,
          }),
        );
        for (const item of bulk.items) summaries[item.campaign.id] = item.summary;
      }
      return { notModified: false, etag: list.etag, data: { campaigns, total: list.data.total, summaries } };
    },
    {
      interval: POLLING_INTERVALS.DASHBOARD_VIEW,
      ...options,
      hintTypes: ['campaign_progress', 'phase_transition', 'campaign_completed'],
      hintFilter: (ev, current) => {
        const o = current as CampaignOverview | null;
        const c = o?.campaigns.find((x) => x.id === ev.campaign_id);
        // A campaign not in the list is new, unless the list is only the newest `limit`.
        if (!c && o && o.total > o.campaigns.length && ev.type === 'campaign_progress') return false;
        return campaignChanged(ev, c ?? null);
      },
    },
  );
  const { data, mutate, ...rest } = res;
  return { overview: data, setOverview: mutate, ...rest };
}

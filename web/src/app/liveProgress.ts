import { useState } from 'react';
import type { Campaign, StatusSummary } from '../api/types';
import { useRealtimeEvent } from '../hooks/context';
import type { CampaignCompletedData, CampaignProgressData, RealtimeEvent } from '../realtime';

export interface LiveProgress extends CampaignProgressData {
  /** The event's time (server clock, ms since the epoch). */
  at: number;
}

/** The latest campaign_progress (or campaign_completed totals) per campaign, from the WebSocket. */
export function useLiveProgress(campaignId?: string): Record<string, LiveProgress> {
  const [live, setLive] = useState<Record<string, LiveProgress>>({});
  useRealtimeEvent(['campaign_progress', 'campaign_completed'], (ev: RealtimeEvent) => {
    const id = ev.campaign_id;
    if (!id || (campaignId && id !== campaignId)) return;
    const data =
      ev.type === 'campaign_completed'
        ? { ...(ev.data as CampaignCompletedData).totals, status: (ev.data as CampaignCompletedData).status }
        : (ev.data as CampaignProgressData);
    if (!data || typeof data.percent !== 'number') return;
    const at = Date.parse(ev.time) || Date.now();
    setLive((prev) => (prev[id] && prev[id].at > at ? prev : { ...prev, [id]: { ...data, at } }));
  });
  return live;
}

export interface Merged {
  status: Campaign['status'];
  phase: Campaign['current_phase'];
  percent: number;
  generated: number;
  leads: number;
  /** Set while the campaign waits to be taken over from an instance that died. */
  stalledSince: string | null;
}

/** The campaign's state from whichever is newer: the last WebSocket event or the polled REST data. */
export function mergeProgress(c: Campaign, summary: StatusSummary | null | undefined, live: LiveProgress | undefined): Merged {
  const restAt = Math.max(Date.parse(c.updated_at) || 0, summary ? Date.parse(summary.updated_at) || 0 : 0);
  if (live && live.at >= restAt) {
    return {
      status: live.status,
      phase: live.current_phase,
      percent: live.percent,
      generated: live.generated,
      leads: live.leads,
      stalledSince: live.stalled_since ?? null,
    };
  }
  const summaryNewer = !!summary && (Date.parse(summary.updated_at) || 0) > (Date.parse(c.updated_at) || 0);
  return {
    status: summaryNewer ? summary.status : c.status,
    phase: summaryNewer ? (summary.current_phase ?? null) : (c.current_phase ?? null),
    percent: summary?.progress.percent ?? 0,
    generated: summary?.generated ?? 0,
    leads: summary?.leads ?? 0,
    stalledSince: (summaryNewer ? summary.stalled_since : c.stalled_since) ?? null,
  };
}

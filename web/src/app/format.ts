import type { ApiError } from '../api/errors';
import type { CampaignStatus, Phase } from '../api/types';

export function formatPercent(p: number | null | undefined): string {
  if (p == null || Number.isNaN(p)) return '0%';
  const clamped = Math.min(100, Math.max(0, p));
  // Never show 100% before the work is all done.
  return `${clamped >= 100 ? 100 : Math.floor(clamped)}%`;
}

export function formatCount(n: number | null | undefined): string {
  return n == null ? '–' : n.toLocaleString('en-US');
}

export const STATUS_LABELS: Record<CampaignStatus, string> = {
  draft: 'Draft',
  queued: 'Queued',
  running: 'Running',
  paused: 'Paused',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export const PHASE_LABELS: Record<Phase, string> = {
  generation: 'Generation',
  dns: 'DNS',
  http: 'HTTP',
  analysis: 'Analysis',
};

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString();
}

/** A sentence for an error, by what the user can do about it. */
export function describeError(error: ApiError): string {
  if (error.status === 0) return 'The server cannot be reached.';
  if (error.status === 429) return 'Too many requests: the server asked us to slow down.';
  if (error.status === 401) return 'Your token was not accepted.';
  if (error.status === 404) return 'Not found.';
  if (error.status >= 500) return `The server had a problem (${error.status}${error.detail && error.detail !== error.title ? `: ${error.detail}` : ''}).`;
  return error.detail;
}

/** A duration in milliseconds, e.g. "4.2 ms", "38 ms", "1.5 s"; "–" when unknown. */
export function formatMs(ms: number | null | undefined): string {
  if (ms == null || Number.isNaN(ms)) return '–';
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)} s`;
  return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

/** n as a share of total, e.g. "12%" ("<1%" for a small non-zero share); null when total is 0. */
export function formatShare(n: number, total: number): string | null {
  if (!total) return null;
  const p = (n / total) * 100;
  if (n > 0 && p < 1) return '<1%';
  return `${Math.round(p)}%`;
}

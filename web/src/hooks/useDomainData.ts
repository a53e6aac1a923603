import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { conditional, ifNoneMatch, type ApiClient } from '../api/client';
import type { Domain, DomainFilterPhase, DomainFilterStatus, DomainPage } from '../api/types';
import { useApiClient, useRealtime } from './context';
import { INITIAL_POLL_STATE, POLLING_INTERVALS, PollController, QUIET_SOCKET_MULTIPLIER, type PollState } from './polling';
import { pollStatus, type PollingOptions, type PollStatus } from './usePolledResource';
import { useRetryCountdown } from './useRetryCountdown';

export const DEFAULT_PAGE_SIZE = 50;

export interface UseDomainDataOptions extends PollingOptions {
  /** Page size (1–1000, default 50). */
  limit?: number;
  /** generated | validated | failed (see phase). */
  status?: DomainFilterStatus | null;
  /** dns | http | analysis: the phase the status filter applies to. */
  phase?: DomainFilterPhase | null;
  /** Substring of the domain name. */
  q?: string | null;
  /** Poll on the interval (default true). */
  enablePolling?: boolean;
}

export interface UseDomainDataResult extends PollStatus {
  /** Every domain loaded so far, in offset_index order. */
  domains: Domain[];
  /** Domains matching the filters (from the latest first page). */
  total: number | null;
  /** More pages can be loaded. */
  hasMore: boolean;
  /** Pages loaded. */
  pageCount: number;
  /** A Load More request is under way. */
  loadingMore: boolean;
  /** Appends the next page (by next_cursor). */
  loadMore: () => Promise<void>;
}

interface PageEntry {
  /** The cursor the page was read with (null: the first page). */
  cursor: string | null;
  etag: string | null;
  page: DomainPage;
}

interface View {
  key: string;
  /** The client the pages were read with. */
  client: ApiClient;
  pages: PageEntry[];
  domains: Domain[];
  poll: PollState;
  loadingMore: boolean;
}

interface Session {
  key: string;
  ctrl: PollController;
  pages: PageEntry[];
  fetchPage: (cursor: string | null, etag: string | null, signal: AbortSignal) => ReturnType<typeof fetchDomainPage>;
  publish: () => void;
}

function fetchDomainPage(
  client: ApiClient,
  campaignId: string,
  query: { limit: number; status?: DomainFilterStatus; phase?: DomainFilterPhase; q?: string },
  cursor: string | null,
  etag: string | null,
  signal: AbortSignal,
) {
  return conditional(
    client.GET('/api/v1/campaigns/{campaignId}/domains', {
      params: {
        path: { campaignId },
        query: cursor ? { ...query, cursor } : query,
        header: ifNoneMatch(etag),
      },
      signal,
    }),
  );
}

/** The pages' domains in order, without the duplicates a shifting filter can produce at page edges. */
function flatten(pages: PageEntry[]): Domain[] {
  if (pages.length === 1) return pages[0].page.items;
  const seen = new Set<number>();
  const out: Domain[] = [];
  for (const p of pages) {
    for (const d of p.page.items) {
      if (seen.has(d.offset_index)) continue;
      seen.add(d.offset_index);
      out.push(d);
    }
  }
  return out;
}

const EMPTY: Domain[] = [];

function emptyView(key: string, client: ApiClient): View {
  return { key, client, pages: [], domains: EMPTY, poll: INITIAL_POLL_STATE, loadingMore: false };
}

/**
 * A campaign's domains over REST: the first page at once, then polling (each loaded page
 * re-read with If-None-Match, so an unchanged poll is a 304 that keeps the data), Load More
 * by cursor, filters (a change starts the list afresh), manual refresh, and errors retried
 * with exponential backoff (Retry-After honoured). With a realtime connection it polls at
 * once on a domains_changed hint for the campaign, and less often while the socket is
 * healthy and quiet.
 */
export function useDomainData(campaignId: string | null | undefined, options: UseDomainDataOptions = {}): UseDomainDataResult {
  const client = useApiClient(options.client);
  const realtime = useRealtime(options.realtime);
  const limit = options.limit ?? DEFAULT_PAGE_SIZE;
  const status = options.status ?? undefined;
  const phase = options.phase ?? undefined;
  const q = options.q?.trim() || undefined;
  const interval = options.interval ?? POLLING_INTERVALS.ACTIVE_CAMPAIGN;
  const polling = options.enablePolling ?? true;
  const quietMultiplier = options.quietIntervalMultiplier ?? QUIET_SOCKET_MULTIPLIER;
  const key = campaignId ? JSON.stringify([campaignId, limit, status ?? '', phase ?? '', q ?? '']) : '';

  const [view, setView] = useState<View>(() => emptyView(key, client));
  // A new campaign, filter, page size or client starts the list afresh, before the effect below reads it.
  if (view.key !== key || view.client !== client) setView(emptyView(key, client));
  const sessionRef = useRef<Session | null>(null);
  const latestOptions = useRef(options);
  // Before the effects below, so that they see this render's options.
  useLayoutEffect(() => {
    latestOptions.current = options;
  });

  useEffect(() => {
    // Only this session's list: not one of a campaign, filter or client since left.
    const mine = (v: View) => v.key === key && v.client === client;
    if (!campaignId) {
      sessionRef.current = null;
      return;
    }
    const query = { limit, ...(status ? { status } : {}), ...(phase ? { phase } : {}), ...(q ? { q } : {}) };
    const opts = latestOptions.current;
    const session: Session = {
      key,
      pages: [],
      fetchPage: (cursor, etag, signal) => fetchDomainPage(client, campaignId, query, cursor, etag, signal),
      publish: () => {
        if (sessionRef.current !== session) return;
        const pages = session.pages;
        setView((v) => (mine(v) ? { ...v, pages, domains: flatten(pages) } : v));
      },
      ctrl: null as unknown as PollController,
    };
    session.ctrl = new PollController({
      // One poll re-reads the pages loaded so far, each with its ETag; page k+1 is read
      // with page k's fresh next_cursor so the list never has gaps.
      run: async (signal) => {
        const old = session.pages;
        const want = Math.max(1, old.length);
        const next: PageEntry[] = [];
        let cursor: string | null = null;
        for (let i = 0; i < want; i++) {
          const prev = old[i] && old[i].cursor === cursor ? old[i] : undefined;
          const r = await session.fetchPage(cursor, prev?.etag ?? null, signal);
          if (session.ctrl.isStopped) return;
          let entry: PageEntry;
          if (r.notModified && prev) entry = prev;
          else if (r.notModified) throw new Error('304 without a cached page');
          else entry = { cursor, etag: r.etag, page: r.data };
          next.push(entry);
          if (!entry.page.has_more || !entry.page.next_cursor) break;
          cursor = entry.page.next_cursor;
        }
        const changed = next.length !== old.length || next.some((p, i) => p !== old[i]);
        if (changed) {
          session.pages = next;
          session.publish();
        }
      },
      onState: (poll) => {
        if (sessionRef.current === session) setView((v) => (mine(v) ? { ...v, poll } : v));
      },
      interval,
      polling,
      realtime,
      quietMultiplier,
      campaignId,
      hintTypes: ['domains_changed'],
      minHintGapMs: opts.minHintGapMs,
      backoff: opts.backoff,
    });
    sessionRef.current = session;
    void session.ctrl.start();
    return () => {
      session.ctrl.stop();
      if (sessionRef.current === session) sessionRef.current = null;
    };
    // A new list for a new campaign, filter, page size or client; settings change below.
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the key holds the campaign, filters and page size
  }, [key, client]);

  useEffect(() => {
    sessionRef.current?.ctrl.update({ interval, polling, realtime, quietMultiplier });
  }, [interval, polling, realtime, quietMultiplier]);

  const loadMore = useCallback(async () => {
    const session = sessionRef.current;
    if (!session) return;
    const last = session.pages[session.pages.length - 1];
    if (!last || !last.page.has_more || !last.page.next_cursor) return;
    setView((v) => (v.key === session.key ? { ...v, loadingMore: true } : v));
    try {
      await session.ctrl.exclusive(async (signal) => {
        // Read the state again: a poll may have run while this waited its turn.
        const tail = session.pages[session.pages.length - 1];
        if (!tail || !tail.page.has_more || !tail.page.next_cursor) return;
        const cursor = tail.page.next_cursor;
        const r = await session.fetchPage(cursor, null, signal);
        if (session.ctrl.isStopped || r.notModified) return;
        session.pages = [...session.pages, { cursor, etag: r.etag, page: r.data }];
        session.publish();
      });
    } catch {
      // Reported through error / retryInSeconds.
    } finally {
      if (sessionRef.current === session) setView((v) => (v.key === session.key ? { ...v, loadingMore: false } : v));
    }
  }, []);

  const refresh = useCallback(() => sessionRef.current?.ctrl.poll('manual') ?? Promise.resolve(), []);
  const retry = useCallback(() => {
    void sessionRef.current?.ctrl.retry();
  }, []);

  const current = view.key === key && view.client === client ? view : emptyView(key, client);
  const first = current.pages[0];
  const last = current.pages[current.pages.length - 1];
  const status_ = pollStatus(current.poll, current.pages.length > 0, !!campaignId);
  const retryInSeconds = useRetryCountdown(status_.retryAt);
  return {
    domains: current.domains,
    total: first ? first.page.total : null,
    hasMore: !!last && last.page.has_more && !!last.page.next_cursor,
    pageCount: current.pages.length,
    loadingMore: current.loadingMore,
    ...status_,
    retryInSeconds,
    refresh,
    retry,
    loadMore,
  };
}

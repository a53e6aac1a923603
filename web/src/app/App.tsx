import { useCallback, useEffect, useMemo, useState } from 'react';
import { createApiClient, createWebSocketTicket } from '../api/client';
import { DomainFlowProvider, useRealtimeHealth } from '../hooks/context';
import { RealtimeClient } from '../realtime';
import { CampaignList } from './CampaignList';
import { CampaignPage } from './CampaignPage';
import { ErrorBoundary } from './ErrorBoundary';
import { NewCampaignForm } from './NewCampaignForm';
import { hrefFor, navigate, useRoute } from './router';
import { SignIn } from './SignIn';
import { TokensPage } from './TokensPage';
import { useRetryCountdown } from '../hooks/useRetryCountdown';

export const TOKEN_KEY = 'domainflow.token';

function readToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function writeToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage unavailable (private mode): the session still works until reload
  }
}

export interface AppProps {
  /** Origin of the API; default: this page's. */
  baseUrl?: string;
  /** ws(s):// URL of the event socket; default: this page's origin + /api/v1/ws. */
  realtimeUrl?: string;
}

/** The dashboard: sign-in, then campaigns, a new-campaign form, a page per campaign and the user's tokens. */
export function App({ baseUrl, realtimeUrl }: AppProps) {
  const [token, setToken] = useState<string | null>(readToken);
  const [notice, setNotice] = useState<string | null>(null);

  const signIn = useCallback((t: string) => {
    writeToken(t);
    setNotice(null);
    setToken(t);
  }, []);
  const signOut = useCallback((why: string | null = null) => {
    writeToken(null);
    setNotice(why);
    setToken(null);
  }, []);

  if (!token) return <SignIn onSignedIn={signIn} notice={notice} baseUrl={baseUrl} />;
  return <SignedIn key={token} token={token} baseUrl={baseUrl} realtimeUrl={realtimeUrl} onSignOut={signOut} />;
}

function SignedIn({ token, baseUrl, realtimeUrl, onSignOut }: { token: string; baseUrl?: string; realtimeUrl?: string; onSignOut: (why?: string | null) => void }) {
  // onSignOut is App's signOut, the same function at every render: the client is made once per token.
  const client = useMemo(
    () =>
      createApiClient({
        token,
        ...(baseUrl ? { baseUrl } : {}),
        onUnauthorized: (err) => onSignOut(`Signed out: ${err.detail || 'the token is no longer accepted'}`),
      }),
    [token, baseUrl, onSignOut],
  );
  // The socket opens with a single-use ticket, never with the token in its URL.
  const realtime = useMemo(
    () => new RealtimeClient({ ticket: (signal) => createWebSocketTicket(client, signal), ...(realtimeUrl ? { url: realtimeUrl } : {}) }),
    [client, realtimeUrl],
  );
  useEffect(() => {
    realtime.connect();
    return () => realtime.close();
  }, [realtime]);

  return (
    <DomainFlowProvider client={client} realtime={realtime}>
      <Shell onSignOut={() => onSignOut(null)} />
    </DomainFlowProvider>
  );
}

function RealtimeIndicator() {
  const health = useRealtimeHealth();
  const retryIn = useRetryCountdown(health?.nextRetryAt ?? null);
  if (!health) return null;
  const label = health.healthy
    ? 'Live'
    : health.state === 'reconnecting'
      ? `Reconnecting${retryIn !== null && retryIn > 0 ? ` in ${retryIn} s` : '…'}`
      : health.state === 'connecting'
        ? 'Connecting…'
        : 'Offline';
  return (
    <span className={`live ${health.healthy ? 'live-on' : 'live-off'}`} data-testid="realtime-status" data-state={health.state} title="Live updates over the WebSocket">
      <span className="dot" aria-hidden="true" /> {label}
    </span>
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const route = useRoute();
  return (
    <>
      <header className="topbar">
        <a className="brand" href={hrefFor({ name: 'campaigns' })}>
          DomainFlow
        </a>
        <nav aria-label="Main">
          <a href={hrefFor({ name: 'campaigns' })} aria-current={route.name === 'campaigns' ? 'page' : undefined} data-testid="nav-campaigns">
            Campaigns
          </a>
          <a href={hrefFor({ name: 'new' })} aria-current={route.name === 'new' ? 'page' : undefined} data-testid="nav-new">
            New campaign
          </a>
          <a href={hrefFor({ name: 'tokens' })} aria-current={route.name === 'tokens' ? 'page' : undefined} data-testid="nav-tokens">
            Tokens
          </a>
        </nav>
        <div className="topbar-right">
          <RealtimeIndicator />
          <button type="button" className="btn btn-small" onClick={onSignOut} data-testid="signout">
            Sign out
          </button>
        </div>
      </header>
      <main className="content">
        <ErrorBoundary key={route.name === 'campaign' ? `c:${route.id}` : route.name}>
          {route.name === 'campaigns' && <CampaignList />}
          {route.name === 'new' && (
            <NewCampaignForm onCreated={(c) => navigate({ name: 'campaign', id: c.id })} onCancel={() => navigate({ name: 'campaigns' })} />
          )}
          {route.name === 'campaign' && <CampaignPage key={route.id} id={route.id} />}
          {route.name === 'tokens' && <TokensPage />}
        </ErrorBoundary>
      </main>
    </>
  );
}

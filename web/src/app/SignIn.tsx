import { useState, type FormEvent } from 'react';
import { createApiClient, unwrap } from '../api/client';
import { toApiError } from '../api/errors';

export interface SignInProps {
  onSignedIn: (token: string) => void;
  /** Why the user is here again (for example a token the server stopped accepting). */
  notice?: string | null;
  baseUrl?: string;
}

/** Sign in with an API token (`domainflow token create --user NAME`); the server checks it. */
export function SignIn({ onSignedIn, notice, baseUrl }: SignInProps) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(notice ?? null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const t = token.trim();
    if (!t) {
      setError('Enter an API token.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const client = createApiClient({ token: t, ...(baseUrl ? { baseUrl } : {}) });
      await unwrap(client.GET('/api/v1/campaigns', { params: { query: { limit: 1 } } }));
      onSignedIn(t);
    } catch (err) {
      const apiErr = toApiError(err);
      if (apiErr.status === 401) {
        setError(`Sign-in failed: ${apiErr.detail || 'the token was not accepted'}`);
      } else if (apiErr.status === 0) {
        setError('Sign-in failed: the server cannot be reached.');
      } else if (apiErr.status === 429) {
        setError(`Sign-in failed: too many requests${apiErr.retryAfterSeconds != null ? `, try again in ${apiErr.retryAfterSeconds} s` : ''}.`);
      } else {
        setError(`Sign-in failed: ${apiErr.detail}`);
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      <form className="card signin-card" onSubmit={(e) => void submit(e)} data-testid="signin-form" aria-labelledby="signin-title" noValidate>
        <h1 id="signin-title">DomainFlow</h1>
        <p className="muted">
          Sign in with an API token. Create one with <code>domainflow token create --user NAME</code>.
        </p>
        <label htmlFor="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="current-password"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          data-testid="token-input"
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'signin-error' : undefined}
          autoFocus
        />
        {error && (
          <p className="field-error" id="signin-error" role="alert" data-testid="signin-error">
            {error}
          </p>
        )}
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="signin-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

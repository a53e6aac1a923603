import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { unwrap } from '../api/client';
import { isAbortError, toApiError, type ApiError } from '../api/errors';
import type { Token, TokenCreate, TokenCreated } from '../api/types';
import { useApiClient } from '../hooks/context';
import { describeError, formatDate } from './format';

const DAY = 24 * 60 * 60;

/** The lifetimes offered for a new token, in seconds (null: until revoked). */
export const EXPIRY_CHOICES: ReadonlyArray<{ label: string; seconds: number | null }> = [
  { label: '1 day', seconds: DAY },
  { label: '7 days', seconds: 7 * DAY },
  { label: '30 days', seconds: 30 * DAY },
  { label: '90 days', seconds: 90 * DAY },
  { label: '1 year', seconds: 365 * DAY },
  { label: 'No expiry (until revoked)', seconds: null },
];

const DEFAULT_EXPIRY = String(30 * DAY);

/** The body of a create request from the form's fields. */
export function buildTokenRequest(name: string, expiry: string): TokenCreate {
  const body: TokenCreate = { name: name.trim() };
  if (expiry !== '') body.expires_in = Number(expiry);
  return body;
}

/** The user's API tokens: list, create (the secret shown once) and revoke. */
export function TokensPage() {
  const client = useApiClient();
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [created, setCreated] = useState<TokenCreated | null>(null);

  // Bumped to read the list again (after a change made here, or a failed read).
  const [version, setVersion] = useState(0);
  const reload = useCallback(() => setVersion((v) => v + 1), []);

  useEffect(() => {
    const abort = new AbortController();
    unwrap(client.GET('/api/v1/tokens', { signal: abort.signal })).then(
      (list) => {
        setTokens(list.items);
        setLoadError(null);
      },
      (err: unknown) => {
        if (!isAbortError(err)) setLoadError(toApiError(err));
      },
    );
    return () => abort.abort();
  }, [client, version]);

  return (
    <section aria-labelledby="tokens-title">
      <div className="section-head">
        <h1 id="tokens-title">API tokens</h1>
      </div>
      <p className="muted">
        Tokens let scripts and tools call the API as you. Each is shown once, when it is made; a revoked token stops
        working everywhere within a second.
      </p>
      {created && <NewSecret token={created} onDone={() => setCreated(null)} />}
      <CreateTokenForm
        onCreated={(t) => {
          setCreated(t);
          reload();
        }}
      />
      {loadError && (
        <div className="banner banner-error" role="alert" data-testid="tokens-error">
          <div className="banner-text">
            <strong>Loading tokens failed. </strong>
            {describeError(loadError)}
          </div>
          <button type="button" className="btn btn-small" onClick={() => reload()}>
            Retry
          </button>
        </div>
      )}
      {!tokens && !loadError && (
        <p className="muted" data-testid="tokens-loading">
          Loading tokens…
        </p>
      )}
      {tokens && tokens.length === 0 && (
        <div className="card empty" data-testid="tokens-empty">
          <p>No tokens.</p>
        </div>
      )}
      {tokens && tokens.length > 0 && (
        <div className="table-wrap">
          <table className="table" data-testid="token-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Token</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.map((t) => (
                <TokenRow key={t.id} token={t} onRevoked={() => reload()} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function expired(t: Token): boolean {
  return t.expires_at != null && new Date(t.expires_at).getTime() <= Date.now();
}

function TokenRow({ token, onRevoked }: { token: Token; onRevoked: () => void }) {
  const client = useApiClient();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  async function revoke() {
    setBusy(true);
    try {
      await unwrap(client.DELETE('/api/v1/tokens/{tokenId}', { params: { path: { tokenId: token.id } } }));
      onRevoked();
    } catch (err) {
      setError(toApiError(err));
      setConfirming(false);
    } finally {
      setBusy(false);
    }
  }

  return (
    <tr data-testid="token-row" data-token-id={token.id}>
      <td data-testid="token-name">
        {token.name || <span className="muted">(unnamed)</span>}
        {token.current && (
          <span className="badge" data-testid="token-current" title="This dashboard is signed in with this token">
            {' '}
            this session
          </span>
        )}
      </td>
      <td>
        <code data-testid="token-hint">{token.hint}</code>
      </td>
      <td>{formatDate(token.created_at)}</td>
      <td data-testid="token-expires">
        {token.expires_at ? formatDate(token.expires_at) : 'Never'}
        {expired(token) && <span className="muted"> (expired)</span>}
      </td>
      <td data-testid="token-last-used">{token.last_used_at ? formatDate(token.last_used_at) : 'Never'}</td>
      <td>
        {confirming ? (
          <span className="danger-zone" data-testid="revoke-confirmation">
            <span>
              Revoke “{token.name || token.hint}”?
              {token.current ? ' This dashboard is signed in with it: you will be signed out.' : ' Whatever uses it stops working.'}
            </span>{' '}
            <button type="button" className="btn btn-small btn-danger" onClick={() => void revoke()} disabled={busy} data-testid="revoke-confirm">
              Revoke
            </button>{' '}
            <button type="button" className="btn btn-small" onClick={() => setConfirming(false)} data-testid="revoke-cancel">
              Keep it
            </button>
          </span>
        ) : (
          <button type="button" className="btn btn-small btn-link-danger" onClick={() => setConfirming(true)} data-testid="revoke">
            Revoke
          </button>
        )}
        {error && (
          <span className="inline-error" role="alert" data-testid="revoke-error">
            {describeError(error)}
          </span>
        )}
      </td>
    </tr>
  );
}

function CreateTokenForm({ onCreated }: { onCreated: (t: TokenCreated) => void }) {
  const client = useApiClient();
  const [name, setName] = useState('');
  const [expiry, setExpiry] = useState(DEFAULT_EXPIRY);
  const [busy, setBusy] = useState(false);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string[]>>({});
  const [formError, setFormError] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (name.trim() === '') {
      setFieldErrors({ '/name': ['Give the token a name, to tell it from the others.'] });
      return;
    }
    setBusy(true);
    setFieldErrors({});
    setFormError(null);
    try {
      const t = await unwrap(client.POST('/api/v1/tokens', { body: buildTokenRequest(name, expiry) }));
      setName('');
      onCreated(t);
    } catch (err) {
      const apiErr = toApiError(err);
      const fields = apiErr.fieldErrors();
      setFieldErrors(fields);
      if (!fields['/name'] && !fields['/expires_in']) setFormError(describeError(apiErr));
    } finally {
      setBusy(false);
    }
  }

  const nameErrors = fieldErrors['/name'];
  const expiryErrors = fieldErrors['/expires_in'];
  return (
    <form className="card form" onSubmit={(e) => void submit(e)} data-testid="create-token-form" noValidate>
      <fieldset>
        <legend>New token</legend>
        {formError && (
          <p className="field-error" role="alert" data-testid="create-token-error">
            {formError}
          </p>
        )}
        <div className="grid-2">
          <div className={`field${nameErrors ? ' field-invalid' : ''}`}>
            <label htmlFor="token-name">Name</label>
            <input
              id="token-name"
              type="text"
              maxLength={200}
              value={name}
              onChange={(e) => setName(e.target.value)}
              placeholder="e.g. CI deploys"
              aria-invalid={nameErrors ? true : undefined}
              aria-describedby={nameErrors ? 'token-name-error' : undefined}
              data-testid="token-name-input"
            />
            {nameErrors && (
              <p className="field-error" id="token-name-error" role="alert" data-testid="error-token-name">
                {nameErrors.join('; ')}
              </p>
            )}
          </div>
          <div className={`field${expiryErrors ? ' field-invalid' : ''}`}>
            <label htmlFor="token-expiry">Expires after</label>
            <select id="token-expiry" value={expiry} onChange={(e) => setExpiry(e.target.value)} data-testid="token-expiry-input">
              {EXPIRY_CHOICES.map((c) => (
                <option key={c.label} value={c.seconds === null ? '' : String(c.seconds)}>
                  {c.label}
                </option>
              ))}
            </select>
            {expiryErrors && (
              <p className="field-error" role="alert" data-testid="error-token-expiry">
                {expiryErrors.join('; ')}
              </p>
            )}
          </div>
        </div>
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="create-token-submit">
            Create token
          </button>
        </div>
      </fieldset>
    </form>
  );
}

/** A token just made: its secret, this once, with a copy button. */
function NewSecret({ token, onDone }: { token: TokenCreated; onDone: () => void }) {
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  async function copy() {
    try {
      await navigator.clipboard.writeText(token.token);
      setCopied('yes');
    } catch {
      setCopied('failed');
    }
  }
  return (
    <div className="banner banner-warning" role="status" data-testid="new-token">
      <div className="banner-text">
        <strong>Token “{token.name}” created. Copy it now: it will not be shown again.</strong>
        <p>
          <code className="secret" data-testid="new-token-secret">
            {token.token}
          </code>
        </p>
        <p className="muted">
          {token.expires_at ? `Expires ${formatDate(token.expires_at)}.` : 'Works until revoked.'} Send it as{' '}
          <code>Authorization: Bearer …</code>
        </p>
        {copied === 'yes' && <span data-testid="copied">Copied.</span>}
        {copied === 'failed' && (
          <span className="inline-error" data-testid="copy-failed">
            The browser refused the clipboard: select the token and copy it.
          </span>
        )}
      </div>
      <div className="toolbar">
        <button type="button" className="btn btn-small btn-primary" onClick={() => void copy()} data-testid="copy-token">
          Copy
        </button>
        <button type="button" className="btn btn-small" onClick={onDone} data-testid="new-token-done">
          Done
        </button>
      </div>
    </div>
  );
}

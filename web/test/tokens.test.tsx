import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { createApiClient } from '../src/api/client';
import type { Token } from '../src/api/types';
import { App, TOKEN_KEY } from '../src/app/App';
import { buildTokenRequest, TokensPage } from '../src/app/TokensPage';
import { DomainFlowProvider } from '../src/hooks/context';
import { BASE, json, problem } from './helpers';

const CURRENT = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const CI = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const SECRET = 'dfl_0123456789abcdefghijABCDEFGHIJ0123456789x';

function token(patch: Partial<Token>): Token {
  return {
    id: CI,
    name: 'ci',
    hint: 'dfl_…wxyz',
    created_at: '2025-01-01T00:00:00Z',
    expires_at: null,
    last_used_at: null,
    current: false,
    ...patch,
  };
}

/** The tokens API of one user, in memory. */
class TokenServer {
  tokens: Token[] = [
    token({ id: CURRENT, name: 'laptop', hint: 'dfl_…abcd', current: true, last_used_at: '2025-01-02T00:00:00Z' }),
    token({ id: CI, name: 'ci', expires_at: '2030-01-01T00:00:00Z' }),
  ];
  requests: Array<{ method: string; path: string; body: unknown }> = [];
  /** Answers to the next POST /api/v1/tokens, replacing the default. */
  createAnswer: Response | null = null;

  readonly fetch = vi.fn(async (req: Request) => {
    const path = new URL(req.url).pathname;
    const text = req.method === 'POST' ? await req.text() : '';
    const body: unknown = text ? JSON.parse(text) : undefined;
    this.requests.push({ method: req.method, path, body });
    if (path === '/api/v1/tokens' && req.method === 'GET') return json({ items: this.tokens });
    if (path === '/api/v1/tokens' && req.method === 'POST') {
      if (this.createAnswer) return this.createAnswer;
      const b = body as { name: string; expires_in?: number };
      const created = token({
        id: 'cccccccc-cccc-4ccc-8ccc-cccccccccccc',
        name: b.name,
        hint: `dfl_…${SECRET.slice(-4)}`,
        created_at: '2025-02-01T00:00:00Z',
        expires_at: b.expires_in ? new Date(Date.parse('2025-02-01T00:00:00Z') + b.expires_in * 1000).toISOString() : null,
      });
      this.tokens = [...this.tokens, created];
      return json({ id: created.id, name: created.name, hint: created.hint, created_at: created.created_at, expires_at: created.expires_at, token: SECRET }, { status: 201 });
    }
    const m = /^\/api\/v1\/tokens\/([^/]+)$/.exec(path);
    if (m && req.method === 'DELETE') {
      this.tokens = this.tokens.filter((t) => t.id !== m[1]);
      return new Response(null, { status: 204 });
    }
    return problem(404, { code: 'not_found' });
  });

  client() {
    return createApiClient({ baseUrl: BASE, token: 'tok', fetch: this.fetch as unknown as typeof fetch });
  }

  calls(method: string) {
    return this.requests.filter((r) => r.method === method);
  }
}

function renderPage(server: TokenServer) {
  return render(
    <DomainFlowProvider client={server.client()}>
      <TokensPage />
    </DomainFlowProvider>,
  );
}

function row(name: string): HTMLElement {
  const r = screen.getAllByTestId('token-row').find((el) => within(el).getByTestId('token-name').textContent?.startsWith(name));
  if (!r) throw new Error(`no row for ${name}`);
  return r;
}

describe('tokens page', () => {
  it('lists the tokens with their hint, expiry, last use and which one is this session’s', async () => {
    renderPage(new TokenServer());
    const rows = await screen.findAllByTestId('token-row');
    expect(rows).toHaveLength(2);
    const laptop = row('laptop');
    expect(within(laptop).getByTestId('token-hint').textContent).toBe('dfl_…abcd');
    expect(within(laptop).queryByTestId('token-current')).not.toBeNull();
    expect(within(laptop).getByTestId('token-expires').textContent).toBe('Never');
    const ci = row('ci');
    expect(within(ci).queryByTestId('token-current')).toBeNull();
    expect(within(ci).getByTestId('token-last-used').textContent).toBe('Never');
    expect(within(ci).getByTestId('token-expires').textContent).not.toBe('Never');
  });

  it('creates a token with a name and an expiry and shows its secret once, with a copy button', async () => {
    const server = new TokenServer();
    const writeText = vi.fn(async () => {});
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText } });
    renderPage(server);
    await screen.findAllByTestId('token-row');

    fireEvent.change(screen.getByTestId('token-name-input'), { target: { value: '  deploys  ' } });
    fireEvent.change(screen.getByTestId('token-expiry-input'), { target: { value: String(7 * 86400) } });
    fireEvent.click(screen.getByTestId('create-token-submit'));

    const shown = await screen.findByTestId('new-token');
    expect(within(shown).getByTestId('new-token-secret').textContent).toBe(SECRET);
    expect(shown.textContent).toMatch(/will not be shown again/);
    expect(server.calls('POST')).toEqual([{ method: 'POST', path: '/api/v1/tokens', body: { name: 'deploys', expires_in: 604800 } }]);
    await waitFor(() => expect(screen.getAllByTestId('token-row')).toHaveLength(3));
    expect((screen.getByTestId('token-name-input') as HTMLInputElement).value).toBe('');

    fireEvent.click(screen.getByTestId('copy-token'));
    await screen.findByTestId('copied');
    expect(writeText).toHaveBeenCalledWith(SECRET);

    // Once dismissed, the secret is nowhere on the page; the list shows its hint only.
    fireEvent.click(screen.getByTestId('new-token-done'));
    expect(screen.queryByTestId('new-token')).toBeNull();
    expect(document.body.textContent).not.toContain(SECRET);
    expect(within(row('deploys')).getByTestId('token-hint').textContent).toBe(`dfl_…${SECRET.slice(-4)}`);
  });

  it('sends no expiry for a token that lasts until revoked', () => {
    expect(buildTokenRequest(' x ', '')).toEqual({ name: 'x' });
    expect(buildTokenRequest('x', '86400')).toEqual({ name: 'x', expires_in: 86400 });
  });

  it('says what is wrong with the form: a blank name before sending, the server’s field errors after', async () => {
    const server = new TokenServer();
    renderPage(server);
    await screen.findAllByTestId('token-row');
    fireEvent.click(screen.getByTestId('create-token-submit'));
    expect((await screen.findByTestId('error-token-name')).textContent).toMatch(/name/);
    expect(server.calls('POST')).toHaveLength(0);

    server.createAnswer = problem(400, {
      code: 'invalid',
      detail: 'The request is not valid.',
      errors: [{ pointer: '/expires_in', detail: 'must be at least 60' }],
    });
    fireEvent.change(screen.getByTestId('token-name-input'), { target: { value: 'x' } });
    fireEvent.click(screen.getByTestId('create-token-submit'));
    expect((await screen.findByTestId('error-token-expiry')).textContent).toBe('must be at least 60');
    expect(screen.queryByTestId('error-token-name')).toBeNull();
    expect(screen.queryByTestId('new-token')).toBeNull();
  });

  it('revokes a token only once confirmed', async () => {
    const server = new TokenServer();
    renderPage(server);
    await screen.findAllByTestId('token-row');

    fireEvent.click(within(row('ci')).getByTestId('revoke'));
    const confirmation = within(row('ci')).getByTestId('revoke-confirmation');
    expect(confirmation.textContent).toMatch(/Revoke “ci”\?/);
    fireEvent.click(within(row('ci')).getByTestId('revoke-cancel'));
    expect(within(row('ci')).queryByTestId('revoke-confirmation')).toBeNull();
    expect(server.calls('DELETE')).toHaveLength(0);

    fireEvent.click(within(row('ci')).getByTestId('revoke'));
    fireEvent.click(within(row('ci')).getByTestId('revoke-confirm'));
    await waitFor(() => expect(screen.getAllByTestId('token-row')).toHaveLength(1));
    expect(server.calls('DELETE')).toEqual([{ method: 'DELETE', path: `/api/v1/tokens/${CI}`, body: undefined }]);
  });

  it('warns that revoking this session’s token signs out', async () => {
    renderPage(new TokenServer());
    await screen.findAllByTestId('token-row');
    fireEvent.click(within(row('laptop')).getByTestId('revoke'));
    expect(within(row('laptop')).getByTestId('revoke-confirmation').textContent).toMatch(/signed out/);
  });

  it('shows a failed revocation next to the token', async () => {
    const server = new TokenServer();
    renderPage(server);
    await screen.findAllByTestId('token-row');
    server.fetch.mockImplementationOnce(async () => problem(404, { code: 'not_found', detail: 'No such token.' }));
    fireEvent.click(within(row('ci')).getByTestId('revoke'));
    fireEvent.click(within(row('ci')).getByTestId('revoke-confirm'));
    expect((await screen.findByTestId('revoke-error')).textContent).toBe('Not found.');
  });
});

describe('the dashboard’s WebSocket', () => {
  it('opens with a single-use ticket, never with the token in its URL', async () => {
    const urls: string[] = [];
    class FakeWebSocket {
      readyState = 0;
      onopen = null;
      onclose = null;
      onerror = null;
      onmessage = null;
      constructor(url: string) {
        urls.push(url);
      }
      send() {}
      close() {}
    }
    const fetchMock = vi.fn(async (req: Request) => {
      const path = new URL(req.url).pathname;
      if (path === '/api/v1/ws/ticket' && req.method === 'POST') return json({ ticket: 'tk-1', expires_at: '2025-01-01T00:00:30Z' }, { status: 201 });
      return json({ items: [], limit: 100, offset: 0, total: 0, has_more: false });
    });
    vi.stubGlobal('fetch', fetchMock);
    vi.stubGlobal('WebSocket', FakeWebSocket);
    localStorage.setItem(TOKEN_KEY, 'dfl_secret');
    render(<App baseUrl="http://api.test" realtimeUrl="ws://api.test/api/v1/ws" />);
    await waitFor(() => expect(urls).toHaveLength(1));
    expect(urls[0]).toBe('ws://api.test/api/v1/ws?ticket=tk-1');
    expect(urls[0]).not.toContain('dfl_secret');
    const ticketCall = fetchMock.mock.calls.map(([r]) => r).find((r) => new URL(r.url).pathname === '/api/v1/ws/ticket');
    expect(ticketCall?.headers.get('Authorization')).toBe('Bearer dfl_secret');
  });

  it('has a Tokens page in its navigation', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => json({ items: [], limit: 100, offset: 0, total: 0, has_more: false })));
    vi.stubGlobal('WebSocket', undefined);
    localStorage.setItem(TOKEN_KEY, 'dfl_secret');
    window.location.hash = '#/tokens';
    render(<App baseUrl="http://api.test" />);
    expect((await screen.findByTestId('nav-tokens')).getAttribute('aria-current')).toBe('page');
    expect(await screen.findByTestId('tokens-empty')).toBeTruthy();
    window.location.hash = '';
  });
});

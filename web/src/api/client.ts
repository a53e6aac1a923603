import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { paths } from './types';
import { ApiError, apiErrorFromResponse, isAbortError, networkError } from './errors';

/** The typed client: `client.GET('/api/v1/campaigns/{campaignId}', { params: … })`. */
export type ApiClient = Client<paths>;

/** A token, or a function read before every request (so a sign-out takes effect at once). */
export type TokenSource = string | null | undefined | (() => string | null | undefined);

export interface ApiClientOptions {
  /**
   * Origin (and optional prefix) of the service. Default: the page's own origin, which is
   * where the Go service serves both the dashboard and the API.
   */
  baseUrl?: string;
  /** The API token sent as `Authorization: Bearer …`. */
  token?: TokenSource;
  /** The fetch to use; default: the global fetch, looked up at each request. */
  fetch?: typeof fetch;
  /** Called with every 401 answer (for example to sign out). */
  onUnauthorized?: (error: ApiError) => void;
}

/** The page's origin, or a local default outside a browser. */
export function defaultBaseUrl(): string {
  if (typeof window !== 'undefined' && window.location && /^https?:$/.test(window.location.protocol)) {
    return window.location.origin;
  }
  return 'http://127.0.0.1:8080';
}

function readToken(source: TokenSource): string | null {
  const t = typeof source === 'function' ? source() : source;
  return t ? t : null;
}

/** Middleware adding `Authorization: Bearer <token>` when a token is known. */
export function bearerAuth(token: TokenSource): Middleware {
  return {
    onRequest({ request }) {
      const t = readToken(token);
      if (t && !request.headers.has('Authorization')) {
        request.headers.set('Authorization', `Bearer ${t}`);
      }
      return request;
    },
  };
}

/** Creates the typed client for the DomainFlow API. */
export function createApiClient(options: ApiClientOptions = {}): ApiClient {
  const customFetch = options.fetch;
  const client = createClient<paths>({
    baseUrl: options.baseUrl ?? defaultBaseUrl(),
    // Resolve fetch at call time so tests (and polyfills) can replace the global.
    fetch: (request: Request) => (customFetch ?? globalThis.fetch)(request),
  });
  client.use(bearerAuth(options.token));
  const onUnauthorized = options.onUnauthorized;
  if (onUnauthorized) {
    client.use({
      async onResponse({ response }) {
        if (response.status === 401) {
          let body: unknown;
          try {
            body = await response.clone().json();
          } catch {
            body = undefined;
          }
          onUnauthorized(apiErrorFromResponse(response, body));
        }
        return undefined;
      },
    });
  }
  return client;
}

/** What every openapi-fetch call resolves to, loosely typed. */
export interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * Awaits an openapi-fetch call and returns its data, or throws an ApiError: the
 * problem+json answer made typed, or status 0 ("network") when no answer came. An
 * aborted request rethrows its AbortError.
 */
export async function unwrap<T>(call: Promise<FetchResult<T>>): Promise<T> {
  let result: FetchResult<T>;
  try {
    result = await call;
  } catch (err) {
    if (isAbortError(err)) throw err;
    throw networkError(err);
  }
  const { response } = result;
  if (response.ok) return result.data as T;
  throw apiErrorFromResponse(response, result.error);
}

/** The answer of a conditional GET: new data with its ETag, or "not modified". */
export type Conditional<T> =
  | { notModified: true; etag: string | null }
  | { notModified: false; data: T; etag: string | null };

/**
 * Like unwrap, for a GET sent with If-None-Match: a 304 answers `{notModified: true}` so
 * the caller keeps what it has.
 */
export async function conditional<T>(call: Promise<FetchResult<T>>): Promise<Conditional<T>> {
  let result: FetchResult<T>;
  try {
    result = await call;
  } catch (err) {
    if (isAbortError(err)) throw err;
    throw networkError(err);
  }
  const { response } = result;
  const etag = response.headers.get('ETag');
  if (response.status === 304) return { notModified: true, etag };
  if (response.ok) return { notModified: false, data: result.data as T, etag };
  throw apiErrorFromResponse(response, result.error);
}

/** `{ 'If-None-Match': etag }`, or nothing when there is no ETag yet. */
export function ifNoneMatch(etag: string | null | undefined): { 'If-None-Match': string } | undefined {
  return etag ? { 'If-None-Match': etag } : undefined;
}

/**
 * A single-use ticket for the event WebSocket (`POST /api/v1/ws/ticket`): valid once, for 30
 * seconds, so no long-lived token goes into the socket's URL. See RealtimeClient's `ticket`.
 */
export async function createWebSocketTicket(client: ApiClient, signal?: AbortSignal): Promise<string> {
  const t = await unwrap(client.POST('/api/v1/ws/ticket', { signal }));
  return t.ticket;
}

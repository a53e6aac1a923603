import type { FieldError, ProblemCode } from './types';

/**
 * The code of an ApiError: the server's stable problem code, or `network` when no answer
 * came at all (server down, connection refused, CORS, offline).
 */
export type ApiErrorCode = ProblemCode | 'network' | 'unknown';

export interface ApiErrorInit {
  status: number;
  code: ApiErrorCode;
  title?: string;
  detail?: string;
  errors?: FieldError[];
  retryAfterSeconds?: number | null;
  type?: string;
  cause?: unknown;
}

/**
 * An error answer of the API (RFC 9457 problem+json), or the absence of an answer
 * (status 0, code "network").
 */
export class ApiError extends Error {
  /** HTTP status; 0 when the server could not be reached. */
  readonly status: number;
  readonly code: ApiErrorCode;
  readonly title: string;
  readonly detail: string;
  /** Field errors of a 400/422: `pointer` names a body member, `parameter` a query/path/header parameter. */
  readonly errors: FieldError[];
  /** Seconds to wait before trying again (the Retry-After header of a 429 or 503), when given. */
  readonly retryAfterSeconds: number | null;
  readonly type: string;

  constructor(init: ApiErrorInit) {
    const title = init.title ?? defaultTitle(init.status);
    const detail = init.detail ?? title;
    super(detail, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'ApiError';
    this.status = init.status;
    this.code = init.code;
    this.title = title;
    this.detail = detail;
    this.errors = init.errors ?? [];
    this.retryAfterSeconds = init.retryAfterSeconds ?? null;
    this.type = init.type ?? 'about:blank';
  }

  /** True for 429 Too Many Requests. */
  get isRateLimited(): boolean {
    return this.status === 429;
  }

  /** True when the server is unreachable or said it is unavailable. */
  get isUnavailable(): boolean {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }

  /** True for a missing or rejected token. */
  get isUnauthorized(): boolean {
    return this.status === 401;
  }

  /** The field errors keyed by JSON pointer (body members) or parameter name. */
  fieldErrors(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const e of this.errors) {
      const key = e.pointer ?? (e.parameter !== undefined ? `?${e.parameter}` : '');
      (out[key] ??= []).push(e.detail);
    }
    return out;
  }
}

const PROBLEM_CODE_LIST = [
  'invalid',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'unprocessable',
  'rate_limited',
  'unavailable',
  'internal',
  'quota_running_campaigns',
  'quota_campaign_domains',
  'quota_stored_domains',
  'quota_websockets',
  'quota_proxies',
] as const satisfies readonly ProblemCode[];
// Fails to compile when the spec gains a problem code this list lacks.
const everyProblemCode: Record<ProblemCode, true> = Object.fromEntries(PROBLEM_CODE_LIST.map((c) => [c, true])) as Record<
  (typeof PROBLEM_CODE_LIST)[number],
  true
>;
const PROBLEM_CODES: readonly string[] = Object.keys(everyProblemCode);

function defaultTitle(status: number): string {
  if (status === 0) return 'The server cannot be reached';
  return `HTTP ${status}`;
}

/** The problem code a bare status stands for, when the body says nothing. */
export function codeForStatus(status: number): ApiErrorCode {
  switch (status) {
    case 0:
      return 'network';
    case 400:
      return 'invalid';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 422:
      return 'unprocessable';
    case 429:
      return 'rate_limited';
    case 502:
    case 503:
    case 504:
      return 'unavailable';
    default:
      return status >= 500 ? 'internal' : 'unknown';
  }
}

/**
 * Seconds from a Retry-After header: delta-seconds ("5") or an HTTP date. Null when
 * absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | null {
  if (value == null) return null;
  const v = value.trim();
  if (v === '') return null;
  if (/^\d+$/.test(v)) return Number.parseInt(v, 10);
  if (/^\d+\.\d+$/.test(v)) return Math.ceil(Number.parseFloat(v));
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fieldErrorsOf(v: unknown): FieldError[] {
  if (!Array.isArray(v)) return [];
  const out: FieldError[] = [];
  for (const item of v) {
    if (!isRecord(item) || typeof item.detail !== 'string') continue;
    const fe: FieldError = { detail: item.detail };
    if (typeof item.pointer === 'string') fe.pointer = item.pointer;
    if (typeof item.parameter === 'string') fe.parameter = item.parameter;
    out.push(fe);
  }
  return out;
}

/**
 * Turns an error answer into an ApiError. `body` is the parsed problem+json document
 * (or whatever the body was: text, undefined); the status, Retry-After and, when the
 * body is no problem document, the status text are taken from the response.
 */
export function apiErrorFromResponse(response: Response, body?: unknown): ApiError {
  const problem = isRecord(body) ? body : null;
  const status = response.status;
  const rawCode = problem && typeof problem.code === 'string' ? problem.code : null;
  const code: ApiErrorCode = rawCode !== null && PROBLEM_CODES.includes(rawCode) ? (rawCode as ProblemCode) : codeForStatus(status);
  const title =
    problem && typeof problem.title === 'string' && problem.title !== ''
      ? problem.title
      : response.statusText || defaultTitle(status);
  const detail =
    problem && typeof problem.detail === 'string' && problem.detail !== ''
      ? problem.detail
      : typeof body === 'string' && body.trim() !== '' && body.length < 300
        ? body.trim()
        : title;
  return new ApiError({
    status,
    code,
    title,
    detail,
    errors: fieldErrorsOf(problem?.errors),
    retryAfterSeconds: parseRetryAfter(response.headers.get('Retry-After')),
    type: problem && typeof problem.type === 'string' ? problem.type : undefined,
  });
}

/** The ApiError of a request that got no answer. */
export function networkError(cause?: unknown): ApiError {
  return new ApiError({
    status: 0,
    code: 'network',
    title: 'The server cannot be reached',
    detail: 'The server cannot be reached. Check that DomainFlow is running.',
    cause,
  });
}

/** True for the rejection of an aborted fetch. */
export function isAbortError(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    'name' in err &&
    ((err as { name: unknown }).name === 'AbortError' || (err as { name: unknown }).name === 'TimeoutError')
  );
}

/** Any thrown value as an ApiError (an ApiError as it is, anything else as a network failure). */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return networkError(err);
}

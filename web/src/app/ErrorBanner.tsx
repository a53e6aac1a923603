import type { ApiError } from '../api/errors';
import { describeError } from './format';

export interface ErrorBannerProps {
  error: ApiError;
  retryInSeconds: number | null;
  onRetry: () => void;
  /** What failed, e.g. "Loading domains". */
  what?: string;
}

/** The error of a polled view: what happened, the countdown to the automatic retry, and "Retry now". */
export function ErrorBanner({ error, retryInSeconds, onRetry, what }: ErrorBannerProps) {
  return (
    <div className="banner banner-error" role="alert" data-testid="error-banner" data-status={error.status}>
      <div className="banner-text">
        <strong>{what ? `${what} failed. ` : ''}</strong>
        <span data-testid="error-message">{describeError(error)}</span>{' '}
        {retryInSeconds !== null && (
          <span className="muted">
            Retrying in <span data-testid="retry-countdown">{retryInSeconds}</span> s.
          </span>
        )}
      </div>
      <button type="button" className="btn btn-small" onClick={onRetry} data-testid="retry-button">
        Retry now
      </button>
    </div>
  );
}

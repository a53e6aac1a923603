import { Component, type ErrorInfo, type ReactNode } from 'react';

interface State {
  error: Error | null;
}

/** Never a blank page: a rendering error shows a message and a way back. */
export class ErrorBoundary extends Component<{ children: ReactNode }, State> {
  override state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  override componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error('DomainFlow dashboard error', error, info.componentStack);
  }

  override render() {
    if (this.state.error) {
      return (
        <div className="banner banner-error" role="alert" data-testid="app-error">
          <div className="banner-text">
            <strong>Something went wrong on this page.</strong> <span>{this.state.error.message}</span>
          </div>
          <button
            type="button"
            className="btn btn-small"
            onClick={() => {
              this.setState({ error: null });
              window.location.hash = '#/';
            }}
          >
            Back to campaigns
          </button>
        </div>
      );
    }
    return this.props.children;
  }
}

import { formatPercent } from './format';

export interface ProgressBarProps {
  percent: number;
  label: string;
  testId?: string;
}

export function ProgressBar({ percent, label, testId }: ProgressBarProps) {
  const p = Math.min(100, Math.max(0, percent || 0));
  const text = formatPercent(p);
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.floor(p)}>
      <div className="progress-track">
        <div className="progress-fill" style={{ width: `${p}%` }} />
      </div>
      <span className="progress-text" data-testid={testId}>
        {text}
      </span>
    </div>
  );
}

export interface Segment {
  key: string;
  label: string;
  value: number;
  className: string;
}

/** A bar split into parts (validated / failed / skipped / pending), with a legend of counts. */
export function StackedBar({ segments, label, testIdPrefix }: { segments: Segment[]; label: string; testIdPrefix: string }) {
  const total = segments.reduce((s, x) => s + x.value, 0);
  return (
    <div className="stacked">
      <div className="stacked-track" role="img" aria-label={`${label}: ${segments.map((s) => `${s.value} ${s.label}`).join(', ')}`}>
        {total > 0 &&
          segments.map((s) =>
            s.value > 0 ? <div key={s.key} className={`stacked-part ${s.className}`} style={{ width: `${(s.value / total) * 100}%` }} /> : null,
          )}
      </div>
      <ul className="legend">
        {segments.map((s) => (
          <li key={s.key}>
            <span className={`dot ${s.className}`} aria-hidden="true" />
            {s.label} <strong data-testid={`${testIdPrefix}-${s.key}`}>{s.value.toLocaleString('en-US')}</strong>
          </li>
        ))}
      </ul>
    </div>
  );
}

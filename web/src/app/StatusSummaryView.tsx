import type { PhaseCounts, StatusSummary } from '../api/types';
import { formatCount, PHASE_LABELS } from './format';
import { ProgressBar, StackedBar, type Segment } from './ProgressBar';

function segments(c: PhaseCounts, withSkipped: boolean, labels = { validated: 'Passed', failed: 'Failed' }): Segment[] {
  const out: Segment[] = [
    { key: 'validated', label: labels.validated, value: c.validated, className: 'seg-ok' },
    { key: 'failed', label: labels.failed, value: c.failed, className: 'seg-fail' },
  ];
  if (withSkipped) out.push({ key: 'skipped', label: 'Skipped', value: c.skipped ?? 0, className: 'seg-skip' });
  out.push({ key: 'pending', label: 'Pending', value: c.generated, className: 'seg-pending' });
  return out;
}

/** The status summary as progress bars and counts per phase. */
export function StatusSummaryView({ summary }: { summary: StatusSummary }) {
  const phases = [
    { key: 'dns' as const, counts: summary.dns, skipped: false, labels: { validated: 'Resolved', failed: 'Failed' } },
    { key: 'http' as const, counts: summary.http, skipped: true, labels: { validated: 'Fetched', failed: 'Failed' } },
    { key: 'analysis' as const, counts: summary.analysis, skipped: false, labels: { validated: 'Leads', failed: 'No match' } },
  ];
  return (
    <section className="card summary" aria-labelledby="summary-title" data-testid="status-summary">
      <h2 id="summary-title">Progress</h2>
      <ProgressBar percent={summary.progress.percent} label="Overall progress" testId="summary-progress" />
      <dl className="stats">
        <div>
          <dt>Domains</dt>
          <dd data-testid="summary-total">{formatCount(summary.total_domains)}</dd>
        </div>
        <div>
          <dt>Generated</dt>
          <dd data-testid="summary-generated">{formatCount(summary.generated)}</dd>
        </div>
        <div>
          <dt>Validated</dt>
          <dd data-testid="summary-validated">{formatCount(summary.overall.validated)}</dd>
        </div>
        <div>
          <dt>Failed</dt>
          <dd data-testid="summary-failed">{formatCount(summary.overall.failed)}</dd>
        </div>
        <div>
          <dt>Leads</dt>
          <dd data-testid="summary-leads">{formatCount(summary.leads)}</dd>
        </div>
        <div>
          <dt>Work done</dt>
          <dd data-testid="summary-processed">
            {formatCount(summary.progress.processed)} / {formatCount(summary.progress.total)}
          </dd>
        </div>
      </dl>
      <div className="phases">
        {phases.map((p) => (
          <div key={p.key} className={`phase${summary.current_phase === p.key ? ' phase-current' : ''}`} data-testid={`summary-phase-${p.key}`}>
            <h3>
              {PHASE_LABELS[p.key]}
              {summary.current_phase === p.key && <span className="tag">current</span>}
            </h3>
            <StackedBar segments={segments(p.counts, p.skipped, p.labels)} label={`${PHASE_LABELS[p.key]} results`} testIdPrefix={`summary-${p.key}`} />
            {p.key === 'dns' && !!p.counts.wildcard && (
              <p className="muted small phase-note">
                Of the failed, wildcard answers: <strong data-testid="summary-dns-wildcard">{formatCount(p.counts.wildcard)}</strong>
              </p>
            )}
          </div>
        ))}
      </div>
    </section>
  );
}

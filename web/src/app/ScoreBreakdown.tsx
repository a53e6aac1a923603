import type { ScorePart } from '../api/types';

/** A reason of the score in words: `status_2xx`, `title`, `keyword:<kw>`, `cap`, or as given. */
export function scoreReasonLabel(reason: string): string {
  if (reason === 'status_2xx') return 'HTTP 2xx answer';
  if (reason === 'title') return 'Page has a title';
  if (reason === 'cap') return 'Capped at 100';
  if (reason.startsWith('keyword:')) return `Keyword “${reason.slice('keyword:'.length)}”`;
  return reason;
}

/** Points with their sign: "+30", "−10", "0". */
export function formatPoints(points: number): string {
  if (points > 0) return `+${points}`;
  if (points < 0) return `−${-points}`;
  return '0';
}

export function sumOfParts(parts: readonly ScorePart[]): number {
  return parts.reduce((s, p) => s + p.points, 0);
}

/** The breakdown on one line, for a tooltip: "status_2xx +30, title +10 = 40". */
export function scoreTooltip(parts: readonly ScorePart[] | undefined, score: number): string | undefined {
  if (!parts || parts.length === 0) return undefined;
  return `${parts.map((p) => `${p.reason} ${formatPoints(p.points)}`).join(', ')} = ${score}`;
}

/** Why a domain scored what it did: each reason with its points, and their sum. */
export function ScoreBreakdown({ parts, score }: { parts: readonly ScorePart[]; score: number }) {
  const sum = sumOfParts(parts);
  return (
    <div className="breakdown" data-testid="score-breakdown">
      <table>
        <tbody>
          {parts.map((p, i) => (
            <tr key={`${p.reason}:${i}`} data-testid="score-part" data-reason={p.reason} data-points={p.points}>
              <th scope="row">
                {scoreReasonLabel(p.reason)} <span className="muted mono small">{p.reason}</span>
              </th>
              <td className="num">{formatPoints(p.points)}</td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row">Score</th>
            <td className="num" data-testid="score-total">
              {sum}
            </td>
          </tr>
        </tfoot>
      </table>
      {sum !== score && (
        <p className="inline-error" data-testid="score-mismatch">
          The parts add up to {sum}, but the lead score is {score}.
        </p>
      )}
    </div>
  );
}

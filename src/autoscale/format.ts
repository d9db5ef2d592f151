import { formatDuration } from "../client/progress.ts";

/**
 * A span for a decision's reason: `750ms` and `1.5s` below ten seconds,
 * where tests and tight settings live, then as the client prints
 * durations (`42s`, `3m05s`, `1h02m`).
 */
export function formatSpan(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 10_000) return `${Number((ms / 1000).toFixed(1))}s`;
  return formatDuration(ms);
}

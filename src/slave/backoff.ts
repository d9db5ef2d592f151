/**
 * Waiting between retries while the master is away. A slave outlives
 * master restarts: it keeps its tasks running and retries its calls with
 * capped exponential backoff, so a restart costs seconds, not tasks.
 */

export interface BackoffPolicy {
  /** Wait before the first retry, ms. 200 ms: a refused connection is usually a restart in progress. */
  initialMs: number;
  /** Longest wait, ms. 5 s: many slaves polling a restarting master stay cheap, and it is back within one wait. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 5_000 };

/**
 * The wait before retry `n` (1-based): initial · 2^(n-1), capped, with ±20%
 * jitter so that a fleet of slaves does not hit a master that just came back
 * in lockstep.
 *
 * @example backoffDelayMs(DEFAULT_BACKOFF, 3) // about 800
 */
export function backoffDelayMs(policy: BackoffPolicy, n: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(n - 1, 30));
  return Math.round(base * (0.8 + 0.4 * random()));
}

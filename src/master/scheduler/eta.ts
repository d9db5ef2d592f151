/**
 * How long a job has left, from duration history and what its slaves are
 * doing now, corrected by how this run compares to history.
 *
 * The estimate replays the rest of the job on the slots it can use: the
 * running attempts end when their expected time is up (never sooner than a
 * floor: an overrunning test ends "soon", not "now"), and each queued
 * attempt, in the order the queue hands them out, starts on the first slot
 * to free up. Expected times are scaled by how long this job's finished
 * attempts took against what history said of them (its completion rate),
 * a correction that gains weight with every attempt that ends. Attempts with
 * no history count as the mean of those with one, or of what this job's
 * finished attempts took.
 */

/** What the estimate needs of one job, gathered by the dispatcher. */
export interface EtaInput {
  now: number;
  /** Expected ms of each attempt waiting for a slave (0: no history), in the order they will be handed out. */
  queuedMs: readonly number[];
  /** Attempts slaves hold: expected ms (0: no history) and when leased. */
  running: readonly { expectedMs: number; leasedAt: number }[];
  /** Slots the job can use: its own leases plus the live slots no other job holds. */
  slots: number;
  observed: EtaObservation;
}

/** What this job's finished attempts took, against what history expected of them. */
export interface EtaObservation {
  /** Attempts finished with a history: the sums of what was expected and of what they took (lease to result). */
  knownCount: number;
  knownExpectedMs: number;
  knownTookMs: number;
  /** All finished attempts: count and the sum of what they took. */
  count: number;
  tookMs: number;
}

export const NO_OBSERVATION: EtaObservation = { knownCount: 0, knownExpectedMs: 0, knownTookMs: 0, count: 0, tookMs: 0 };

/**
 * Finished attempts after which this run's own pace counts as much as
 * history: two, so a machine twice as slow as usual shows within the first
 * few results, and one odd attempt does not swing the estimate alone.
 */
const OBSERVED_HALF_WEIGHT = 2;

/** Least time an attempt still running is given: 10% of what it is expected to take, and at least a second. */
const RUNNING_FLOOR_FRACTION = 0.1;
const RUNNING_FLOOR_MS = 1_000;

/** Past this many queued attempts the replay gives way to work ÷ slots, which it approaches anyway. */
export const MAX_REPLAYED = 5_000;

/** Ms left, or null when neither history nor this job's finished attempts give any duration. */
export function estimateRemainingMs(input: EtaInput): number | null {
  const { now, queuedMs, running, observed } = input;
  const known = [...queuedMs, ...running.map((r) => r.expectedMs)].filter((ms) => ms > 0);
  const meanKnown = known.length > 0 ? known.reduce((a, b) => a + b, 0) / known.length : 0;
  const meanTook = observed.count > 0 ? observed.tookMs / observed.count : 0;
  if (meanKnown === 0 && meanTook === 0) return running.length + queuedMs.length === 0 ? 0 : null;

  const scale = paceScale(withOverruns(observed, running, now));
  // An attempt with no history: as long as the others are expected to be, or as this job's took.
  const unknownMs = meanKnown > 0 ? meanKnown * scale : meanTook;
  const durationOf = (expectedMs: number) => (expectedMs > 0 ? expectedMs * scale : unknownMs);

  const runningLeft = running.map((r) => {
    const total = durationOf(r.expectedMs);
    return Math.max(total - (now - r.leasedAt), Math.max(RUNNING_FLOOR_MS, total * RUNNING_FLOOR_FRACTION));
  });
  const slots = Math.max(1, input.slots, running.length);
  if (queuedMs.length > MAX_REPLAYED) {
    const work = runningLeft.reduce((a, b) => a + b, 0) + queuedMs.reduce((a, ms) => a + durationOf(ms), 0);
    return Math.max(work / slots, ...runningLeft);
  }
  return replay(runningLeft, queuedMs.map(durationOf), slots);
}

/**
 * A running attempt already past what history expected is evidence too,
 * long before any result: it takes at least what it took so far. Counted
 * as if it ended now, so a slow machine shows from the first overruns.
 */
function withOverruns(observed: EtaObservation, running: EtaInput["running"], now: number): EtaObservation {
  const o = { ...observed };
  for (const r of running) {
    const took = now - r.leasedAt;
    if (r.expectedMs <= 0 || took <= r.expectedMs) continue;
    o.knownCount++;
    o.knownExpectedMs += r.expectedMs;
    o.knownTookMs += took;
  }
  return o;
}

/** How much longer than history this run's attempts take: 1 with no results, this run's ratio as results come in. */
function paceScale(observed: EtaObservation): number {
  if (observed.knownCount === 0 || observed.knownExpectedMs <= 0) return 1;
  const ratio = observed.knownTookMs / observed.knownExpectedMs;
  const weight = observed.knownCount / (observed.knownCount + OBSERVED_HALF_WEIGHT);
  return 1 + (ratio - 1) * weight;
}

/** When the last slot frees up, each queued attempt taking the first free slot (a min-heap of slot end times). */
function replay(runningLeft: readonly number[], queued: readonly number[], slots: number): number {
  const heap: number[] = [...runningLeft];
  while (heap.length < slots) heap.push(0);
  heap.sort((a, b) => a - b);
  let end = Math.max(0, ...heap);
  for (const ms of queued) {
    const start = heap[0]!;
    const finish = start + ms;
    end = Math.max(end, finish);
    // Replace the root and sift down.
    let i = 0;
    heap[0] = finish;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && heap[l]! < heap[m]!) m = l;
      if (r < heap.length && heap[r]! < heap[m]!) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  }
  return end;
}

/** Per job, what its finished attempts took against history; kept by the dispatcher while the job is open. */
export class EtaObservations {
  private readonly byJob = new Map<string, EtaObservation>();

  get(jobId: string): EtaObservation {
    return this.byJob.get(jobId) ?? NO_OBSERVATION;
  }

  /** An attempt that ran to a test result (not an infrastructure loss) took `tookMs`; history expected `expectedMs` (0: none). */
  record(jobId: string, expectedMs: number, tookMs: number): void {
    const o = { ...this.get(jobId) };
    o.count++;
    o.tookMs += tookMs;
    if (expectedMs > 0) {
      o.knownCount++;
      o.knownExpectedMs += expectedMs;
      o.knownTookMs += tookMs;
    }
    this.byJob.set(jobId, o);
  }

  forget(jobId: string): void {
    this.byJob.delete(jobId);
  }
}

/**
 * Splitting one binary's test cases into shards of about equal expected
 * time, for a `shards: "auto"` task. Pure: the caller reads the history
 * (Repo.binaryCaseDurations) and says which filters fit the runner.
 *
 * Cases go longest first into the shard with the least expected time so far
 * (LPT, Graham 1969: within 4/3 of the best split), over as many shards as
 * keep each at most max(longest case, target): no split can make a shard
 * shorter than its longest case, and shards shorter than the target would
 * each pay a task's fixed cost (fetch, start) for little work.
 *
 * The pool may split further: a binary that holds a share of the job's
 * expected work gets that share of the slots that can run it (rounded down,
 * so the job's other tasks keep a slot), each shard still at least as long
 * as the longest case. A 60 s binary of a job on 8 free slots so takes 7
 * shards of about 8.6 s rather than the one that a 60 s target allows: the
 * job's answer then comes in about the time of its slowest case or its
 * work ÷ slots, whichever is longer.
 *
 * One shard runs with an exclusion of every case the others name rather
 * than a list of its own, so a case added since the history was read runs
 * there and is never skipped. It is the shard with the most cases, which
 * keeps the filters short.
 */
import type { CaseName, CaseSelection } from "../cases/case-filter.ts";

/** A case the binary is known to have, with the time it is expected to take. */
export interface KnownCase extends CaseName {
  expectedMs: number;
}

export interface PlannedShard {
  /** The shard's cases; null: all of them (a plan of one shard). */
  selection: CaseSelection | null;
  /** What the shard's known cases are expected to take together. */
  expectedMs: number;
  /** How many known cases it runs. */
  cases: number;
}

/**
 * Shards by case lists, or numeric sharding (GTEST_SHARD_INDEX /
 * GTEST_TOTAL_SHARDS) with `count` shards, and why.
 */
export type ShardPlan = { kind: "cases"; shards: PlannedShard[] } | { kind: "numeric"; count: number; reason: string };

export interface ShardPlanInput {
  /** The binary's known cases (empty: no history). */
  cases: readonly KnownCase[];
  /** What one shard should take (shard_seconds). */
  targetMs: number;
  maxShards: number;
  /** Whether the runner can take this selection within its limits (cases/case-filter.ts fitsFilter). */
  fits: (selection: CaseSelection) => boolean;
  /** The whole binary's expected duration from the task-level history, when it has one: sizes the numeric shards of a first run. */
  wholeTaskMs: number | null;
  /** The binary's share of the slots that can run it (see the module's comment); absent or 0: the target alone sizes the shards. */
  poolShards?: number;
}

/**
 * Numeric shards of a binary with no case history and no duration either:
 * enough to spread a long binary over a few slaves while its cases become
 * the history, few enough that a short one does not cost 32 starts.
 */
export const DEFAULT_FIRST_RUN_SHARDS = 8;

/** Shards for `input.cases`; see the module's comment. Deterministic for the same input. */
export function planShards(input: ShardPlanInput): ShardPlan {
  const { cases, targetMs, maxShards } = input;
  if (cases.length === 0) {
    const count = input.wholeTaskMs === null ? Math.min(maxShards, DEFAULT_FIRST_RUN_SHARDS) : shardCount(input.wholeTaskMs, 0, targetMs, maxShards);
    return { kind: "numeric", count, reason: input.wholeTaskMs === null ? "no case history yet" : "no case history yet; sized by the binary's duration" };
  }
  const sorted = [...cases].sort((a, b) => b.expectedMs - a.expectedMs || compareNames(a, b));
  const total = sorted.reduce((n, c) => n + c.expectedMs, 0);
  const longest = sorted[0]!.expectedMs;
  // More shards than total ÷ longest cannot be shorter than the longest case: they would only add starts.
  const byPool = Math.min(input.poolShards ?? 0, Math.ceil(total / Math.max(longest, 1)));
  const planned = Math.min(Math.max(shardCount(total, longest, targetMs, maxShards), byPool), maxShards, sorted.length);
  if (planned === 1) return { kind: "cases", shards: [{ selection: null, expectedMs: total, cases: sorted.length }] };
  // A list too long for the runner: more shards make each include list shorter (but the exclusion longer).
  for (let n = planned; ; n = Math.min(maxShards, sorted.length, Math.max(n + 1, Math.ceil(n * 1.5)))) {
    const shards = toShards(lpt(sorted, n));
    const exclusion = shards[shards.length - 1]!;
    // More shards only lengthen the exclusion: give up at once.
    if (!input.fits(exclusion.selection!)) return { kind: "numeric", count: planned, reason: `the exclusion of ${sorted.length - exclusion.cases} cases is too long for the runner's filter` };
    if (shards.every((s) => input.fits(s.selection!))) return { kind: "cases", shards };
    if (n >= Math.min(maxShards, sorted.length)) return { kind: "numeric", count: planned, reason: `the case lists do not fit the runner's filter even in ${n} shards` };
  }
}

/** n = ceil(total / max(longest, target)), within [1, maxShards]. */
function shardCount(totalMs: number, longestMs: number, targetMs: number, maxShards: number): number {
  const bound = Math.max(longestMs, targetMs, 1);
  return Math.max(1, Math.min(maxShards, Math.ceil(totalMs / bound)));
}

const compareNames = (a: CaseName, b: CaseName) => (a.suite < b.suite ? -1 : a.suite > b.suite ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

interface Bin {
  index: number;
  ms: number;
  cases: KnownCase[];
}

/** Longest-processing-time-first into `n` bins, the lightest found by a binary heap (100,000 cases × 1,000 shards stays fast). */
function lpt(sorted: readonly KnownCase[], n: number): Bin[] {
  const heap: Bin[] = Array.from({ length: n }, (_, index) => ({ index, ms: 0, cases: [] }));
  // Among equally light bins, the one with fewer cases: cases expected to take 0 ms still spread, and no bin stays empty while n <= cases.
  const lighter = (a: Bin, b: Bin) => a.ms < b.ms || (a.ms === b.ms && (a.cases.length < b.cases.length || (a.cases.length === b.cases.length && a.index < b.index)));
  for (const c of sorted) {
    const bin = heap[0]!;
    bin.cases.push(c);
    bin.ms += c.expectedMs;
    // Sift the root down: it only got heavier.
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let least = i;
      if (l < n && lighter(heap[l]!, heap[least]!)) least = l;
      if (r < n && lighter(heap[r]!, heap[least]!)) least = r;
      if (least === i) break;
      [heap[i], heap[least]] = [heap[least]!, heap[i]!];
      i = least;
    }
  }
  return heap.sort((a, b) => a.index - b.index);
}

/**
 * Include lists for all bins but the one with the most cases, which
 * excludes every case the others name; longest expected first (they start
 * first), the exclusion shard last.
 */
function toShards(all: Bin[]): PlannedShard[] {
  const bins = all.filter((b) => b.cases.length > 0);
  const open = bins.reduce((best, b) => (b.cases.length > best.cases.length ? b : best), bins[0]!);
  const named = bins.filter((b) => b !== open).sort((a, b) => b.ms - a.ms || a.index - b.index);
  const names = (list: readonly KnownCase[]): CaseName[] => list.map((c) => ({ suite: c.suite, name: c.name }));
  return [
    ...named.map((b) => ({ selection: { include: names(b.cases) }, expectedMs: b.ms, cases: b.cases.length })),
    { selection: { exclude: names(named.flatMap((b) => b.cases)) }, expectedMs: open.ms, cases: open.cases.length },
  ];
}

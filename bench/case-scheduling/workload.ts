/**
 * What the case-scheduling bench runs, as data: the gtest binaries' cases
 * and their sleeps, from fixed seeds, and the C++ source of each binary.
 * Pure (no files, no processes), so test/bench/case-scheduling.test.ts
 * checks the distribution without a compiler or a cluster.
 *
 * - `longtail_test`: 200 cases whose durations are log-normal, bent by a
 *   power so that the longest is exactly 3 s and the sum about 60 s: the
 *   binary that dominates a job, as a real suite's slow corner does.
 * - `short_a` … `short_c`: 4 cases of 0.1–0.5 s each, the rest of the job.
 * - `flaky_60s`: 60 cases, about 60 s, one of them (0.3 s) failing on the
 *   first attempt only (DT_ATTEMPT is "0" there; the master sets it on
 *   every lease), to price a retry.
 */
import { seededRandom } from "../../test/helpers/prng.ts";

export interface CaseSpec {
  /** gtest's test suite and test name: `Suite.Name` is what GTEST_FILTER names. */
  suite: string;
  name: string;
  sleepMs: number;
  /** Fails while DT_ATTEMPT is "0", passes on any later attempt (and outside dt, with no DT_ATTEMPT). */
  flaky?: boolean;
}

export interface BinarySpec {
  /** The executable's file name in the archived tree. */
  file: string;
  cases: CaseSpec[];
}

export const LONGTAIL = {
  seed: 20_261_215,
  cases: 200,
  /** Log-normal σ before the power bend; the bend keeps the shape log-normal (σ times the power). */
  sigma: 1,
  longestMs: 3_000,
  totalMs: 60_000,
} as const;

export const SHORT = { seed: 7_122_026, binaries: 3, casesEach: 4, minMs: 100, maxMs: 500 } as const;

export const FLAKY = { cases: 60, caseMs: 1_000, flakyIndex: 30, flakyMs: 300 } as const;

/**
 * `count` durations in ms, long-tailed: log-normal draws x (seeded), then
 * d = a·x^p with p and a solved so that max(d) = longestMs and Σd = totalMs
 * (before rounding to whole ms, which moves the sum by at most count ÷ 2 ms).
 * Every duration is at least 1 ms.
 */
export function longTailDurationsMs(spec: { seed: number; cases: number; sigma: number; longestMs: number; totalMs: number } = LONGTAIL): number[] {
  const random = seededRandom(spec.seed);
  // Box–Muller; 1 - random() keeps the log's argument in (0, 1].
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const draws = Array.from({ length: spec.cases }, () => Math.exp(spec.sigma * normal()));
  const largest = Math.max(...draws);
  const unit = draws.map((x) => x / largest); // in (0, 1], the largest exactly 1
  // mean(u^p) falls from 1 (p = 0) towards 1/n as p grows: bisect for mean = longest ÷ (total ÷ n)'s inverse.
  const wantMean = spec.totalMs / spec.cases / spec.longestMs;
  if (!(wantMean > 1 / spec.cases && wantMean < 1)) throw new Error(`longTailDurationsMs: a total of ${spec.totalMs} ms over ${spec.cases} cases cannot have a longest of ${spec.longestMs} ms`);
  const meanAt = (p: number) => unit.reduce((sum, u) => sum + u ** p, 0) / unit.length;
  let [lo, hi] = [0, 1];
  while (meanAt(hi) > wantMean) hi *= 2;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (meanAt(mid) > wantMean) lo = mid;
    else hi = mid;
  }
  return unit.map((u) => Math.max(1, Math.round(spec.longestMs * u ** ((lo + hi) / 2))));
}

/** Uniform durations in [minMs, maxMs], whole ms, seeded. */
export function shortDurationsMs(seed: number, count: number, minMs: number, maxMs: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => Math.round(minMs + random() * (maxMs - minMs)));
}

const pad = (i: number, width: number) => String(i).padStart(width, "0");

/** Every binary of the bench, by role. */
export function benchBinaries(): { longtail: BinarySpec; short: BinarySpec[]; flaky: BinarySpec } {
  const longtail: BinarySpec = {
    file: "longtail_test",
    cases: longTailDurationsMs().map((sleepMs, i) => ({ suite: "LongTail", name: `Case${pad(i, 3)}`, sleepMs })),
  };
  const shortMs = shortDurationsMs(SHORT.seed, SHORT.binaries * SHORT.casesEach, SHORT.minMs, SHORT.maxMs);
  const short = Array.from({ length: SHORT.binaries }, (_, b): BinarySpec => {
    const letter = String.fromCharCode("a".charCodeAt(0) + b);
    return {
      file: `short_${letter}`,
      cases: shortMs.slice(b * SHORT.casesEach, (b + 1) * SHORT.casesEach).map((sleepMs, i) => ({ suite: `Short${letter.toUpperCase()}`, name: `Case${i}`, sleepMs })),
    };
  });
  const flaky: BinarySpec = {
    file: "flaky_60s",
    cases: Array.from({ length: FLAKY.cases }, (_, i): CaseSpec =>
      i === FLAKY.flakyIndex ? { suite: "Flaky60s", name: "FailsOnFirstAttempt", sleepMs: FLAKY.flakyMs, flaky: true } : { suite: "Flaky60s", name: `Case${pad(i, 2)}`, sleepMs: FLAKY.caseMs },
    ),
  };
  return { longtail, short, flaky };
}

/** The binary's C++ source: one TEST per case, each sleeping its time; linked with gtest_main. */
export function gtestSource(binary: BinarySpec): string {
  const tests = binary.cases.map((c) => {
    const body = c.flaky
      ? `SleepMs(${c.sleepMs});\n  const char* attempt = std::getenv("DT_ATTEMPT");\n  EXPECT_FALSE(attempt != nullptr && std::strcmp(attempt, "0") == 0) << "fails on the first attempt (DT_ATTEMPT=0) only";`
      : `SleepMs(${c.sleepMs});`;
    return `TEST(${c.suite}, ${c.name}) {\n  ${body}\n}`;
  });
  return [
    `// ${binary.file}: generated by bench/case-scheduling/workload.ts (fixed seeds); do not edit.`,
    "#include <gtest/gtest.h>",
    "#include <chrono>",
    "#include <cstdlib>",
    "#include <cstring>",
    "#include <thread>",
    "",
    "static void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }",
    "",
    ...tests,
    "",
  ].join("\n");
}

/**
 * The case-level lower bound of a job's makespan on `slots` slots: no
 * schedule ends before its longest case, nor before the cases' total work
 * spread evenly over the slots.
 */
export function caseLowerBoundMs(caseDurationsMs: readonly number[], slots: number): number {
  if (!Number.isInteger(slots) || slots < 1) throw new Error(`caseLowerBoundMs: slots must be a positive integer, got ${slots}`);
  let longest = 0;
  let sum = 0;
  for (const d of caseDurationsMs) {
    if (!Number.isFinite(d) || d < 0) throw new Error(`caseLowerBoundMs: a case duration must be a non-negative number of ms, got ${d}`);
    longest = Math.max(longest, d);
    sum += d;
  }
  return Math.max(longest, sum / slots);
}

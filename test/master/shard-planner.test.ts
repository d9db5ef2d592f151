import { expect, test } from "bun:test";
import { type CaseSelection, fitsFilter } from "../../src/master/cases/case-filter.ts";
import { DEFAULT_FIRST_RUN_SHARDS, type KnownCase, type PlannedShard, planShards } from "../../src/master/scheduler/shard-planner.ts";

const all = () => true;
const known = (durations: number[], suite = "S"): KnownCase[] => durations.map((ms, i) => ({ suite, name: `c${i}`, expectedMs: ms }));
const plan = (cases: KnownCase[], over: Partial<Parameters<typeof planShards>[0]> = {}) => planShards({ cases, targetMs: 60_000, maxShards: 32, fits: all, wholeTaskMs: null, ...over });
const casesPlan = (p: ReturnType<typeof planShards>): PlannedShard[] => {
  if (p.kind !== "cases") throw new Error(`expected a case plan, got ${JSON.stringify(p)}`);
  return p.shards;
};
const namesOf = (s: CaseSelection | null) => (s === null ? [] : ("include" in s ? s.include : s.exclude).map((c) => `${c.suite}.${c.name}`));

/** Every known case lands in exactly one shard: named in one include list, or in none (then the exclusion shard runs it). */
function expectEachOnce(cases: KnownCase[], shards: PlannedShard[]): void {
  const exclusion = shards.filter((s) => s.selection !== null && "exclude" in s.selection);
  expect(exclusion).toHaveLength(1);
  expect(shards.at(-1)).toBe(exclusion[0]!);
  const included = shards.flatMap((s) => (s.selection && "include" in s.selection ? namesOf(s.selection) : []));
  expect(new Set(included).size).toBe(included.length);
  // The exclusion names exactly the cases the include lists run, so each other case runs there once.
  expect(namesOf(exclusion[0]!.selection).sort()).toEqual([...included].sort());
  expect(shards.reduce((n, s) => n + s.cases, 0)).toBe(cases.length);
}

test("balanced: 200 long-tailed cases split into shards within a few percent of each other, each case once", () => {
  // Deterministic long tail: a few cases of seconds, most of tens of ms.
  let seed = 7;
  const next = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const cases = known(Array.from({ length: 200 }, () => Math.round(20 * Math.exp(next() * 5))));
  const total = cases.reduce((n, c) => n + c.expectedMs, 0);
  const longest = Math.max(...cases.map((c) => c.expectedMs));
  const target = Math.ceil(total / 6);
  const shards = casesPlan(plan(cases, { targetMs: target }));
  expect(shards).toHaveLength(Math.ceil(total / Math.max(longest, target)));
  expectEachOnce(cases, shards);
  const times = shards.map((s) => s.expectedMs);
  expect(times.reduce((a, b) => a + b, 0)).toBe(total);
  // LPT's worst case is 4/3 of the best; with many small cases it is within one small case of the mean.
  expect(Math.max(...times) / (total / shards.length)).toBeLessThan(1.05);
});

test("bound: no shard exceeds max(longest case, target) when the cap allows; one long case gets a shard of its own", () => {
  const cases = known([100_000, 10_000, 10_000, 10_000, 10_000, 10_000, 10_000]);
  const shards = casesPlan(plan(cases, { targetMs: 30_000 }));
  // total 160 s, bound max(100, 30) = 100 s: two shards.
  expect(shards).toHaveLength(2);
  expect(shards.map((s) => s.expectedMs).sort((a, b) => b - a)).toEqual([100_000, 60_000]);
  expect(shards.find((s) => s.expectedMs === 100_000)!.cases).toBe(1);
  expectEachOnce(cases, shards);
});

test("cap: max_shards bounds the count however long the binary is", () => {
  const cases = known(Array.from({ length: 100 }, () => 60_000));
  expect(casesPlan(plan(cases, { maxShards: 4 }))).toHaveLength(4);
  expect(casesPlan(plan(cases, { maxShards: 1000 }))).toHaveLength(100);
});

test("a short binary is one shard running everything; so is one whose cases took no measurable time", () => {
  expect(casesPlan(plan(known([1_000, 2_000, 3_000])))).toEqual([{ selection: null, expectedMs: 6_000, cases: 3 }]);
  expect(casesPlan(plan(known([0, 0, 0, 0])))).toEqual([{ selection: null, expectedMs: 0, cases: 4 }]);
});

test("the exclusion shard is the one with the most cases (short filters), and a new case would run there", () => {
  // One 60 s case alone, 60 cases of 1 s together: the exclusion is the 60-case shard, naming only the one case.
  const cases = [...known([60_000], "Long"), ...known(Array.from({ length: 60 }, () => 1_000), "Short")];
  const shards = casesPlan(plan(cases));
  expect(shards).toHaveLength(2);
  expect(shards[0]!.selection).toEqual({ include: [{ suite: "Long", name: "c0" }] });
  expect(shards[1]!.selection).toEqual({ exclude: [{ suite: "Long", name: "c0" }] });
  expect(shards[1]!.cases).toBe(60);
  // Rendered for gtest, the exclusion leaves in every case it does not name, one added since included.
  expect(fitsFilter(null, shards[1]!.selection!, {})).toBe(true);
});

test("deterministic: the same history gives the same plan whatever its order", () => {
  const cases = known([5_000, 50_000, 20_000, 20_000, 40_000, 1_000, 30_000]);
  const a = plan(cases, { targetMs: 50_000 });
  const b = plan([...cases].reverse(), { targetMs: 50_000 });
  expect(b).toEqual(a);
});

test("too long for the runner: more shards when include lists are too long; numeric with the planned count when the exclusion is", () => {
  const cases = known(Array.from({ length: 40 }, () => 10_000));
  // planned: 400 s / 60 s = 7 shards; include lists of more than 4 names are refused here, the exclusion never.
  const shortLists = (s: CaseSelection) => "exclude" in s || s.include.length <= 4;
  const split = casesPlan(plan(cases, { fits: shortLists }));
  expect(split.length).toBeGreaterThan(7);
  expect(split.every((s) => shortLists(s.selection!))).toBe(true);
  expectEachOnce(cases, split);
  // The exclusion does not fit: more shards would only lengthen it.
  expect(plan(cases, { fits: (s) => "include" in s })).toEqual({ kind: "numeric", count: 7, reason: expect.stringContaining("exclusion") });
  // No split fits within the cap.
  expect(plan(cases, { maxShards: 8, fits: shortLists })).toEqual({ kind: "numeric", count: 7, reason: expect.stringContaining("do not fit") });
});

test("too long for gtest's real limit: 100,000 cases with long names fall back to numeric shards", () => {
  const cases = Array.from({ length: 100_000 }, (_, i) => ({ suite: `AVeryLongSuiteNameForTesting${i % 100}`, name: `case_with_a_long_name_${i}`, expectedMs: 100 }));
  const started = performance.now();
  const result = plan(cases, { fits: (s) => fitsFilter(null, s, {}) });
  expect(result).toMatchObject({ kind: "numeric", count: 32 });
  expect(performance.now() - started).toBeLessThan(5_000);
});

test("no history: numeric shards, DEFAULT_FIRST_RUN_SHARDS or sized by the binary's duration, within the cap", () => {
  expect(plan([])).toEqual({ kind: "numeric", count: DEFAULT_FIRST_RUN_SHARDS, reason: "no case history yet" });
  expect(plan([], { maxShards: 3 })).toMatchObject({ kind: "numeric", count: 3 });
  expect(plan([], { wholeTaskMs: 150_000 })).toMatchObject({ kind: "numeric", count: 3 });
  expect(plan([], { wholeTaskMs: 10_000_000 })).toMatchObject({ kind: "numeric", count: 32 });
  expect(plan([], { wholeTaskMs: 0 })).toMatchObject({ kind: "numeric", count: 1 });
});

test("the pool splits further than the target, down to the longest case, never past max_shards", () => {
  // 60 s over 20 cases of 3 s: the 60 s target allows one shard; a share of 7 slots makes 7, of 40 slots no more than 20 (60 ÷ 3).
  const cases = known(Array.from({ length: 20 }, () => 3_000));
  expect(plan(cases)).toMatchObject({ kind: "cases", shards: [{ selection: null }] });
  const seven = casesPlan(plan(cases, { poolShards: 7 }));
  expect(seven.length).toBe(7);
  expect(Math.max(...seven.map((s) => s.expectedMs))).toBe(9_000);
  expect(casesPlan(plan(cases, { poolShards: 40 })).length).toBe(20);
  expect(casesPlan(plan(cases, { poolShards: 40, maxShards: 5 })).length).toBe(5);
  // A pool smaller than what the target needs changes nothing.
  expect(casesPlan(plan(cases, { targetMs: 10_000, poolShards: 2 })).length).toBe(6);
});

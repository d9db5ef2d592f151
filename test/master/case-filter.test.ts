import { expect, test } from "bun:test";
import { isDtError } from "../../src/common/errors.ts";
import { CaseFilterError, type CaseFilterSpec, MAX_FILTER_BYTES, MAX_MATCHED_WILDCARD_CHARS, canExclude, fitsFilter, gtestFilterMatcher, parseCaseFilter, renderCaseFilter } from "../../src/master/cases/case-filter.ts";

const c = (suite: string, name: string) => ({ suite, name });
const drop = ["GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS"];

test("gtest: an include list becomes GTEST_FILTER and replaces the user's; numeric shard variables are dropped", () => {
  expect(renderCaseFilter(null, { include: [c("A", "x"), c("B", "y")] }, { GTEST_FILTER: "A.*" })).toEqual({ env: { GTEST_FILTER: "A.x:B.y" }, dropEnv: drop, args: [] });
});

test("gtest: an exclusion joins the negative part of the user's GTEST_FILTER, keeping its positive part", () => {
  const ex = { exclude: [c("A", "x"), c("B", "y")] };
  expect(renderCaseFilter(null, ex, {}).env).toEqual({ GTEST_FILTER: "*-A.x:B.y" });
  expect(renderCaseFilter(null, ex, { GTEST_FILTER: "A.*:B.*" }).env).toEqual({ GTEST_FILTER: "A.*:B.*-A.x:B.y" });
  expect(renderCaseFilter(null, ex, { GTEST_FILTER: "A.*-A.slow" }).env).toEqual({ GTEST_FILTER: "A.*-A.slow:A.x:B.y" });
  expect(renderCaseFilter(null, ex, { GTEST_FILTER: "-A.slow" }).env).toEqual({ GTEST_FILTER: "*-A.slow:A.x:B.y" });
  expect(renderCaseFilter(null, { exclude: [] }, { GTEST_FILTER: "A.*" }).env).toEqual({ GTEST_FILTER: "A.*" });
});

test("gtest: ':' and '-' in a name become '?', so they neither split the filter nor start its negative part", () => {
  expect(renderCaseFilter(null, { include: [c("P/Suite", "case:1"), c("S", "a-b")] }, {}).env.GTEST_FILTER).toBe("P/Suite.case?1:S.a?b");
  expect(renderCaseFilter(null, { exclude: [c("S-x", "y")] }, {}).env.GTEST_FILTER).toBe("*-S?x.y");
});

test("env form: the runner's variable holds the joined cases, or its exclude template", () => {
  const spec = parseCaseFilter({ env: "TESTS", separator: ",", case: "{suite}#{name}", exclude: "!{cases}" }, "f")!;
  expect(renderCaseFilter(spec, { include: [c("A", "x"), c("B", "y")] }, {})).toEqual({ env: { TESTS: "A#x,B#y" }, dropEnv: drop, args: [] });
  expect(renderCaseFilter(spec, { exclude: [c("A", "x")] }, {}).env).toEqual({ TESTS: "!A#x" });
});

test("arg forms: {cases} is one argument (Surefire's -Dtest=), {case} one per case (pytest node ids)", () => {
  const surefire = parseCaseFilter({ arg: "-Dtest={cases}", separator: ",", case: "{suite}#{name}", exclude: "-Dtest=!{cases}" }, "f")!;
  expect(renderCaseFilter(surefire, { include: [c("FooTest", "a"), c("BarTest", "b")] }, {}).args).toEqual(["-Dtest=FooTest#a,BarTest#b"]);
  expect(renderCaseFilter(surefire, { exclude: [c("FooTest", "a")] }, {}).args).toEqual(["-Dtest=!FooTest#a"]);
  const pytest = parseCaseFilter({ arg: "{case}", case: "{suite}::{name}", exclude: "--deselect={case}" }, "f")!;
  expect(renderCaseFilter(pytest, { include: [c("t/a.py", "test_x"), c("t/b.py", "test_y")] }, {}).args).toEqual(["t/a.py::test_x", "t/b.py::test_y"]);
  expect(renderCaseFilter(pytest, { exclude: [c("t/a.py", "test_x")] }, {}).args).toEqual(["--deselect=t/a.py::test_x"]);
});

test("a runner without an exclude form cannot take an exclusion: refused with what to add", () => {
  const spec = parseCaseFilter({ env: "TESTS" }, "f")!;
  expect(canExclude(spec)).toBe(false);
  expect(canExclude(null)).toBe(true);
  expect(() => renderCaseFilter(spec, { exclude: [c("A", "x")] }, {})).toThrow(/no "exclude" form.*add one/);
  expect(fitsFilter(spec, { exclude: [c("A", "x")] }, {})).toBe(false);
});

test("too long: a filter past MAX_FILTER_BYTES is refused, naming the count and the limit; fitsFilter says so", () => {
  const many = Array.from({ length: 10_000 }, (_, i) => c("SomeSuite", `case_${i}`));
  expect(fitsFilter(null, { include: many.slice(0, 100) }, {})).toBe(true);
  expect(fitsFilter(null, { include: many }, {})).toBe(false);
  let error: unknown;
  try {
    renderCaseFilter(null, { include: many }, {});
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(CaseFilterError);
  expect((error as Error).message).toContain("10000 cases");
  expect((error as Error).message).toContain(String(MAX_FILTER_BYTES));
  // Each argument fits, all of them together do not: 30,000 pytest ids of ~40 bytes.
  const pytest = parseCaseFilter({ arg: "{case}", case: "{suite}::{name}" }, "f")!;
  const ids = Array.from({ length: 30_000 }, (_, i) => c("tests/test_module_long_name.py", `test_${i}`));
  expect(() => renderCaseFilter(pytest, { include: ids }, {})).toThrow(/bytes of arguments/);
});

test("parseCaseFilter: absent or null is googletest; defaults for separator and case", () => {
  expect(parseCaseFilter(undefined, "f")).toBeNull();
  expect(parseCaseFilter(null, "f")).toBeNull();
  expect(parseCaseFilter({ arg: "--only={cases}" }, "f")).toEqual({ via: "arg", target: "--only={cases}", separator: ":", format: "{suite}.{name}", exclude: null } satisfies CaseFilterSpec);
});

test("parseCaseFilter refuses hostile and mistaken input, naming the field and what to write", () => {
  const refused: [unknown, string][] = [
    ["GTEST_FILTER", "f: must be an object"],
    [[{ env: "X" }], "f: must be an object"],
    [{}, "f: needs exactly one of"],
    [{ env: "X", arg: "--a={cases}" }, "f: needs exactly one of"],
    [{ env: "1X" }, "f.env: must be an environment variable's name"],
    [{ env: "A=B" }, "f.env: must be an environment variable's name"],
    [{ env: "X".repeat(129) }, "f.env: must be a non-empty string of at most 128"],
    [{ env: "" }, "f.env: must be a non-empty string"],
    [{ env: 7 }, "f.env: must be a non-empty string"],
    [{ arg: "--all" }, "f.arg: must hold {cases}"],
    [{ arg: "--a={cases}\u0000" }, "without NUL"],
    [{ arg: "--a={cases}\ud800" }, "f.arg: must be a non-empty string"],
    [{ arg: "x".repeat(1_001) + "{cases}" }, "at most 1000"],
    [{ env: "X", exclude: "!{case}" }, "f.exclude: must hold {cases}"],
    [{ arg: "--a={cases}", exclude: "--no" }, "f.exclude: must hold {cases} or {case}"],
    [{ env: "X", case: "{suite}" }, "f.case: must hold {name}"],
    [{ env: "X", __proto__: 1, filter: "a" }, 'f.filter: is not a key of case_filter'],
    [{ env: "X", separator: "" }, "f.separator: must be a non-empty string"],
    // Set after the filter (by the lease, the slave, run-isolated): the filter would be lost and the shard run every case.
    [{ env: "DT_TASK_ID" }, "f.env: DT_TASK_ID is set by dt itself"],
    [{ env: "ISOLATED_OUTDIR" }, "f.env: ISOLATED_OUTDIR is set by dt itself"],
    [{ env: "DT_SLAVE_RUN_ID" }, "f.env: DT_SLAVE_RUN_ID is set by dt itself"],
  ];
  for (const [raw, message] of refused) {
    let error: unknown;
    try {
      parseCaseFilter(raw, "f");
    } catch (err) {
      error = err;
    }
    expect({ raw, ok: isDtError(error, "invalid_input") }).toEqual({ raw, ok: true });
    expect((error as Error).message).toContain(message);
  }
});

test("gtestFilterMatcher reads a GTEST_FILTER as gtest does: ':' patterns, '*' and '?', the first '-' starts the negative part", () => {
  const runs = (filter: string, names: string[]) => names.filter((n) => gtestFilterMatcher(filter)!({ suite: n.slice(0, n.indexOf(".")), name: n.slice(n.indexOf(".") + 1) }));
  const all = ["A.x", "A.xy", "B.y", "P/S.c/1", "P/S.c/12"];
  expect(runs("-A.x", all)).toEqual(["A.xy", "B.y", "P/S.c/1", "P/S.c/12"]);
  expect(runs("A.*", all)).toEqual(["A.x", "A.xy"]);
  expect(runs("A.?:P/*/1", all)).toEqual(["A.x", "P/S.c/1"]);
  expect(runs("*-A.*:*12", all)).toEqual(["B.y", "P/S.c/1"]);
  expect(runs("*x*y*-", all)).toEqual(["A.xy"]);
  // An empty filter runs nothing in gtest; an empty positive part before '-' is '*'.
  expect(runs("", all)).toEqual([]);
  // Wildcard patterns too long to check 100,000 cases against: null, and the planner uses numeric shards.
  expect(gtestFilterMatcher(`${"*a".repeat(MAX_MATCHED_WILDCARD_CHARS)}`)).toBeNull();
  expect(gtestFilterMatcher(`-${"A.b:".repeat(MAX_MATCHED_WILDCARD_CHARS)}`)).not.toBeNull();
});

test("a hostile case template is refused as soon as the filter passes the limit, not after building gigabytes", () => {
  // 76 copies of a 250-character case: 19 KB per case, 1.9 GB for 100,000 (20 s of the master's thread to build).
  const cases = Array.from({ length: 100_000 }, (_, i) => c("S".repeat(100), `n${i}`.padEnd(150, "x")));
  for (const raw of [{ env: "T", case: "{suite}{name}".repeat(76), exclude: "{cases}" }, { arg: "{case}", case: "{suite}{name}".repeat(76), exclude: "--deselect={case}" }]) {
    const spec = parseCaseFilter(raw, "f")!;
    const started = performance.now();
    expect(fitsFilter(spec, { exclude: cases }, {})).toBe(false);
    expect(() => renderCaseFilter(spec, { include: cases }, {})).toThrow(/the filter for 100000 cases takes more than/);
    expect(performance.now() - started).toBeLessThan(3_000);
  }
});

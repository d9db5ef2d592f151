/**
 * `dt run-isolated` reads the run's test cases as a slave does: the counts,
 * the list and the notes in --json, the failed ones by name on stderr; its
 * exit code stays the command's.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../src/common/log.ts";
import { archiveTargets, targetFromPaths } from "../../src/isolate/archive/archive.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import type { RunIsolatedResult } from "../../src/isolate/run/run-isolated.ts";
import { startCas } from "../helpers/cas.ts";
import { CLI_TEST_TIMEOUT_MS, cliEnv, runCli } from "../helpers/cli.ts";
import { useCliCleanup } from "../helpers/scratch.ts";
import { shellScript, writeTree } from "../helpers/tree.ts";

const { temps, servers } = useCliCleanup();

const JUNIT = `<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="com.example.T" tests="3">
  <testcase classname="com.example.T" name="passes" time="0.012"/>
  <testcase classname="com.example.T" name="fails" time="0.5"><failure message="expected 1 but was 2">at com.example.T.fails(T.java:17)</failure></testcase>
  <testcase classname="com.example.T" name="skips"><skipped/></testcase>
</testsuite>
`;

/** A tree whose command writes a JUnit report into $ISOLATED_OUTDIR/reports, prints gtest lines for one more case, and exits $1. */
async function setup(script: string) {
  const dir = await temps.make("dt-run-cases-");
  const cas = await startCas(join(dir, "cas"));
  servers.push(cas);
  const root = join(dir, "tree");
  await writeTree(root, { "junit.xml": JUNIT, "t.sh": shellScript(script) });
  const { results } = await archiveTargets([targetFromPaths({ root, paths: ["."], command: ["./t.sh"] })], { cas: new CasClient(cas.url), log: createLogger({ level: "silent" }) });
  const run = (args: string[]) =>
    runCli(["run-isolated", "-H", results[0]!.digest.hash, "-I", cas.url, "--cache", join(dir, "cache"), "--root-dir", join(dir, "runs"), "--json", "r.json", ...args], { cwd: dir, env: cliEnv(join(dir, "home")) });
  const json = (): RunIsolatedResult => JSON.parse(readFileSync(join(dir, "r.json"), "utf8"));
  return { run, json };
}

const WRITES_REPORT = `mkdir -p "$ISOLATED_OUTDIR/reports"\ncp junit.xml "$ISOLATED_OUTDIR/reports/TEST-T.xml"\necho '[ RUN      ] G.stdout'\necho '[       OK ] G.stdout (4 ms)'\nexit "$1"`;

describe("dt run-isolated test cases", () => {
  test("--json has the counts, the cases from the report and from stdout, where they came from; stderr lists the failed one", async () => {
    const s = await setup(WRITES_REPORT);
    const r = await s.run(["--", "1"]);
    expect(r.exitCode).toBe(1);
    const { results } = s.json();
    expect(results).toEqual({
      counts: { total: 4, passed: 2, failed: 1, skipped: 1, crashed: 0 },
      format: "junit-xml",
      sources: [{ path: "reports/TEST-T.xml", format: "junit-xml", cases: 3 }, { path: "stdout", format: "gtest-stdout", cases: 1 }],
      notes: [],
      verdict: null,
      cases: [
        { suite: "com.example.T", name: "passes", status: "passed", duration_ms: 12, message: null, file: null, line: null },
        { suite: "com.example.T", name: "fails", status: "failed", duration_ms: 500, message: "expected 1 but was 2\nat com.example.T.fails(T.java:17)", file: "T.java", line: 17 },
        { suite: "com.example.T", name: "skips", status: "skipped", duration_ms: null, message: null, file: null, line: null },
        { suite: "G", name: "stdout", status: "passed", duration_ms: 4, message: null, file: null, line: null },
      ],
    });
    expect(r.stderr).toContain("cases: 4 (2 passed, 1 failed, 1 skipped, 0 crashed) from reports/TEST-T.xml, stdout");
    expect(r.stderr).toContain("FAILED  com.example.T.fails  expected 1 but was 2");
  }, CLI_TEST_TIMEOUT_MS);

  test("--result-glob narrows the files read (stdout still is); one climbing out of the outputs is refused", async () => {
    const s = await setup(WRITES_REPORT);
    const r = await s.run(["--result-glob", "elsewhere/*.xml", "--", "0"]);
    expect(r.exitCode).toBe(0);
    expect(s.json().results!.counts).toEqual({ total: 1, passed: 1, failed: 0, skipped: 0, crashed: 0 });
    const bad = await s.run(["--result-glob", "../*.xml", "--", "0"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain(`--result-glob: "../*.xml" must be a non-empty glob relative to ISOLATED_OUTDIR`);
  }, CLI_TEST_TIMEOUT_MS);

  test("a non-zero exit with every case passed: the exit code stays, the verdict is said", async () => {
    const s = await setup(`echo '[ RUN      ] G.a'\necho '[       OK ] G.a (1 ms)'\nexit 5`);
    const r = await s.run([]);
    expect(r.exitCode).toBe(5);
    expect(s.json().results).toMatchObject({ counts: { total: 1, passed: 1 }, format: "gtest-stdout", verdict: "exited 5 with every one of its 1 cases passed" });
    expect(r.stderr).toContain("exited 5 with every one of its 1 cases passed");
  }, CLI_TEST_TIMEOUT_MS);
});

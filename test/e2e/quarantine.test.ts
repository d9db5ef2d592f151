/**
 * Quarantine on real processes: `dt master`, a `dt slave`, the real gtest
 * binary (DT_TEST_GTEST_BIN, whose MathTest.FailsOnPurpose always fails)
 * and `dt quarantine` / `dt submit` as a user runs them. Quarantined, the
 * failing case fails no job (exit 0), is listed under `quarantined
 * failures:` and is `skipped` in JUnit with its failure kept; removed or
 * expired, the job fails again (88). And `dt master --auto-quarantine`
 * quarantining a case that was flaky in its recent jobs.
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT } from "../../src/commands/exit-codes.ts";
import { createLogger } from "../../src/common/log.ts";
import { archiveTargets, targetFromPaths } from "../../src/isolate/archive/archive.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import type { QuarantineView } from "../../src/master/protocol.ts";
import { gtestBin, gtestBinMissing } from "../helpers/gtest.ts";
import { shellScript } from "../helpers/tree.ts";
import { type Cluster, E2E_TEST_TIMEOUT_MS, pollUntil, useCluster } from "./cluster.ts";

const MISSING = gtestBinMissing();
if (MISSING) console.warn(`SKIP the gtest part of test/e2e/quarantine.test.ts: ${MISSING}`);

const setup = useCluster("dt-e2e-quarantine-");
const setupAuto = useCluster("dt-e2e-autoquarantine-", { masterArgs: () => ["--auto-quarantine", "0.5", "--auto-quarantine-min-runs", "2", "--auto-quarantine-days", "3"] });

/** tasks.json of one task: the sample binary's MathTest cases only (Adds passes, FailsOnPurpose fails, SkipsOnPurpose skips), with its XML report. */
async function mathTask(c: Cluster): Promise<string> {
  const suite = join(c.dir, "suite");
  mkdirSync(suite, { recursive: true });
  copyFileSync(gtestBin()!, join(suite, "sample_test"));
  const { results } = await archiveTargets([targetFromPaths({ root: suite, paths: ["sample_test"], command: ["./sample_test", "--gtest_output=xml:${ISOLATED_OUTDIR}/"] })], {
    cas: new CasClient(c.master!.url), log: createLogger({ level: "silent" }),
  });
  const file = join(c.dir, "tasks.json");
  writeFileSync(file, JSON.stringify({ tasks: [{ isolate_hash: results[0]!.digest.hash, description: "sample_test", env: { GTEST_FILTER: "MathTest.*" }, max_retries: 1 }] }));
  return file;
}

const listed = async (c: Cluster, all = false): Promise<QuarantineView[]> => {
  const out = await c.dt(["quarantine", "list", "--json", ...(all ? ["--all"] : [])]);
  expect(out.exitCode, out.stderr).toBe(0);
  return JSON.parse(out.stdout) as QuarantineView[];
};

describe.skipIf(MISSING !== undefined)("quarantine with the real gtest binary", () => {
  test("quarantined MathTest.FailsOnPurpose: dt submit exits 0, lists it under quarantined failures and JUnit skips it with the failure kept; removed: 88; expired: 88", async () => {
    const c = await setup();
    await c.startMaster();
    await c.startSlave("s1", 1);
    const tasks = await mathTask(c);

    const added = await c.dt(["quarantine", "add", "MathTest.FailsOnPurpose", "--reason", "arithmetic <bug> #12", "--until", "2d"]);
    expect(added.exitCode, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/MathTest\.FailsOnPurpose\s+\(any\)/);
    const [entry] = await listed(c);
    expect(entry).toMatchObject({ suite: "MathTest", name: "FailsOnPurpose", binary: null, reason: "arithmetic <bug> #12", created_by: "e2e", active: true });

    const junit = join(c.dir, "junit.xml");
    const passed = await c.dt(["submit", tasks, "--poll-interval", "0.2", "--junit", junit]);
    expect(passed.exitCode, `${passed.stdout}\n${passed.stderr}`).toBe(0);
    expect(passed.stdout).toContain("quarantined failures:");
    expect(passed.stdout).toMatch(/QUARANTINED FAILED sample_test › MathTest\.FailsOnPurpose/);
    expect(passed.stdout).toContain(`reason: arithmetic <bug> #12 (entry ${entry!.id}, until `);
    // Apart from the failures: no plain FAILED line names it.
    expect(passed.stdout).not.toMatch(/^FAILED +sample_test › MathTest\.FailsOnPurpose/m);
    // Not retried: the job pays for the quarantined failure once.
    const jobId = readFileSync(join(c.env.HOME!, ".dist-test-last-job"), "utf8");
    const [task] = await c.api.tasks(jobId);
    expect(task!.group).toBe("quarantined");
    expect(task!.attempts.map((a) => [a.state, a.quarantined])).toEqual([["FAILED", true]]);
    const xml = readFileSync(junit, "utf8");
    const testcase = xml.match(/<testcase name="FailsOnPurpose"[\s\S]*?<\/testcase>/)?.[0] ?? "";
    expect(testcase).toContain('<skipped message="quarantined: arithmetic &lt;bug&gt; #12"/>');
    expect(testcase).toMatch(/<system-out>[\s\S]*arithmetic is not negotiable[\s\S]*<\/system-out>/);
    expect(testcase).not.toContain("<failure");

    // Removed: the same job fails again, and the earlier job keeps its verdict.
    const removed = await c.dt(["quarantine", "remove", String(entry!.id)]);
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(removed.stdout).toContain("removed by e2e");
    const failed = await c.dt(["submit", tasks, "--poll-interval", "0.2"]);
    expect(failed.exitCode, failed.stdout).toBe(EXIT.testsFailed);
    expect(failed.stdout).not.toContain("quarantined failures:");
    expect((await c.api.job(jobId)).counts).toMatchObject({ failed: 0, quarantined: 1 });

    // Expired: an entry past its until is inactive by itself.
    const short = await c.dt(["quarantine", "add", "--suite", "MathTest", "--name", "FailsOnPurpose", "--until", "1s"]);
    expect(short.exitCode, short.stderr).toBe(0);
    const [brief] = await listed(c);
    await pollUntil(() => Date.now() > brief!.until!, "the entry's until to pass", 5_000);
    expect(await listed(c)).toEqual([]);
    expect((await listed(c, true)).map((e) => [e.id, e.active, e.removed_at])).toEqual([[brief!.id, false, null], [entry!.id, false, expect.any(Number)]]);
    const expired = await c.dt(["submit", tasks, "--poll-interval", "0.2"]);
    expect(expired.exitCode, expired.stdout).toBe(EXIT.testsFailed);
  }, E2E_TEST_TIMEOUT_MS);
});

test("dt quarantine refuses a malformed command line before asking the master, saying what to write", async () => {
  const c = await setup();
  await c.startMaster();
  const cases: [string[], RegExp][] = [
    [["quarantine", "add"], /name the test: dt quarantine add SUITE\.NAME/],
    [["quarantine", "add", "NoDot"], /TEST "NoDot": write SUITE\.NAME/],
    [["quarantine", "add", "A.b", "--suite", "A", "--name", "b"], /not both/],
    [["quarantine", "add", "A.b", "--until", "2001-01-01"], /--until 2001-01-01: is in the past/],
    [["quarantine", "add", "A.b", "--until", "soon"], /--until: cannot read "soon" as a duration/],
    [["quarantine", "add", "A.b", "--colour", "red"], /unknown flag --colour/],
    [["quarantine", "remove", "abc"], /ID "abc": must be an entry's number/],
    [["quarantine", "remove", "77"], /no quarantine entry 77/],
  ];
  for (const [args, message] of cases) {
    const out = await c.dt(args);
    expect(out.exitCode, `${args.join(" ")}: ${out.stderr}`).not.toBe(0);
    expect(out.stderr).toMatch(message);
  }
  expect(await listed(c, true)).toEqual([]);
  // A hostile name is stored and listed as text, one line per entry.
  const hostile = await c.dt(["quarantine", "add", "Evil\u001b[31m.name\nline2", "--reason", "<script>x</script>"]);
  expect(hostile.exitCode, hostile.stderr).toBe(0);
  const table = (await c.dt(["quarantine", "list"])).stdout;
  expect(table).not.toContain("\u001b[31m");
  expect(table.trim().split("\n")).toHaveLength(2);
}, E2E_TEST_TIMEOUT_MS);

test("dt master --auto-quarantine 0.5: a case flaky in 2 of its 2 recent jobs is quarantined by the master with its rate and an expiry; its next failure exits 0", async () => {
  const c = await setupAuto();
  await c.startMaster();
  await c.startSlave("s1", 1);
  // Fails the first time per MARK, passes after: flaky in each job (its retry passes).
  const script = shellScript([
    "echo '[ RUN      ] Flaky.Sometimes'",
    'if [ -e "$MARK_DIR/$MARK" ]; then echo \'[       OK ] Flaky.Sometimes (1 ms)\'; exit 0; fi',
    'touch "$MARK_DIR/$MARK"',
    "echo 'flaky.cc:3: Failure'",
    "echo '[  FAILED  ] Flaky.Sometimes (1 ms)'",
    "exit 1",
  ].join("\n"));
  const hash = await c.archive({ "flaky.sh": script }, ["./flaky.sh"]);
  const submit = (mark: string) => {
    writeFileSync(join(c.dir, `${mark}.json`), JSON.stringify({ tasks: [{ isolate_hash: hash, description: "flaky_bin", max_retries: 1, env: { MARK_DIR: c.dir, MARK: mark } }] }));
    return c.dt(["submit", `${mark}.json`, "--poll-interval", "0.2"]);
  };
  expect((await submit("m1")).exitCode).toBe(0);
  expect(await listed(c)).toEqual([]);
  expect((await submit("m2")).exitCode).toBe(0);
  const [entry] = await listed(c);
  expect(entry).toMatchObject({ binary: "flaky_bin", suite: "Flaky", name: "Sometimes", created_by: "auto", active: true });
  expect(entry!.reason).toMatch(/^flake rate 100% \(2 of 2 runs flaky in the last 7 days\)/);
  expect(entry!.until! - entry!.created_at).toBe(3 * 86_400_000);
  // The next job's first attempt fails it: quarantined now, so no retry, exit 0, listed apart.
  const third = await submit("m3");
  expect(third.exitCode, third.stdout).toBe(0);
  expect(third.stdout).toContain("quarantined failures:");
  expect(third.stdout).toContain("flake rate 100%");
}, E2E_TEST_TIMEOUT_MS);

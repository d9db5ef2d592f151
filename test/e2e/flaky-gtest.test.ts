/**
 * A flaky case made by a real cluster: `dt master` and `dt slave` processes
 * run dt's sample gtest binary (DT_TEST_GTEST_BIN) as a job with a retry;
 * its first attempt aborts mid-case (DT_SAMPLE_ABORT, set by a wrapper only
 * the first time), the retry runs clean. The case that crashed then passed
 * is the one flaky case `GET /api/v1/tests/flaky` and `dt flaky` list for
 * the binary, with the crash as its latest failure and the attempt's log;
 * the cases that failed in both attempts are not flaky.
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../src/common/log.ts";
import { archiveTargets, targetFromPaths } from "../../src/isolate/archive/archive.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import type { FlakyCases } from "../../src/master/protocol.ts";
import { gtestBin, gtestBinMissing } from "../helpers/gtest.ts";
import { E2E_TEST_TIMEOUT_MS, useCluster } from "./cluster.ts";

const MISSING = gtestBinMissing();
if (MISSING) console.warn(`SKIP test/e2e/flaky-gtest.test.ts: ${MISSING}`);

const setupCluster = useCluster("dt-e2e-flaky-");

/** Aborts in CrashTest.AbortsWhenAsked the first time (no marker yet), runs clean after. */
const WRAPPER = `#!/bin/sh
if [ ! -e "$FLAKY_MARKER" ]; then
  : > "$FLAKY_MARKER"
  DT_SAMPLE_ABORT=1 exec ./sample_test "--gtest_output=xml:$ISOLATED_OUTDIR/"
fi
exec ./sample_test "--gtest_output=xml:$ISOLATED_OUTDIR/"
`;

describe.skipIf(MISSING !== undefined)("a flaky case from a real cluster", () => {
  test("the case that crashed, then passed on the retry, is the binary's one flaky case, with its crash and log; dt flaky lists it", async () => {
    const c = await setupCluster();
    await c.startMaster();
    await c.startSlave("s1", 1);
    const suite = join(c.dir, "suite");
    mkdirSync(suite);
    copyFileSync(gtestBin()!, join(suite, "sample_test"));
    writeFileSync(join(suite, "run.sh"), WRAPPER, { mode: 0o755 });
    const { results } = await archiveTargets([targetFromPaths({ root: suite, paths: ["sample_test", "run.sh"], command: ["/bin/sh", "run.sh"] })], {
      cas: new CasClient(c.master!.url), log: createLogger({ level: "silent" }),
    });
    const jobId = await c.submitNoWait([{ isolate_hash: results[0]!.digest.hash, description: "sample_flaky", max_retries: 1, env: { FLAKY_MARKER: join(c.dir, "aborted-once") } }]);
    await c.api.waitFinished(jobId);
    const [task] = await c.api.tasks(jobId);
    // The sample fails some cases on purpose: both attempts fail, the first by the abort.
    expect(task!.attempts.map((a) => [a.state, a.exit_code])).toEqual([["FAILED", 134], ["FAILED", 1]]);

    const answer = await c.api.get<FlakyCases>("/api/v1/tests/flaky?binary=sample_flaky");
    expect(answer.cases.map((k) => [k.suite, k.name, k.jobs, k.flaky, k.flake_rate])).toEqual([["CrashTest", "AbortsWhenAsked", 1, 1, 1]]);
    const f = answer.cases[0]!.last_failure!;
    expect([f.job_id, f.task_id, f.attempt, f.status, f.message]).toEqual([jobId, task!.task_id, 0, "crashed", "crashed (signal 6, SIGABRT)"]);
    const log = await fetch(f.log_link);
    expect(log.status).toBe(200);
    expect(await log.text()).toContain("[ RUN      ] CrashTest.AbortsWhenAsked");

    const listed = await c.dt(["flaky", "--binary", "sample_flaky"]);
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(`sample_flaky › CrashTest.AbortsWhenAsked  1     `);
    expect(listed.stdout).toContain(f.log_link);
  }, E2E_TEST_TIMEOUT_MS);
});

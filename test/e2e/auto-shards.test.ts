/**
 * `shards: "auto"` end to end with the real gtest binary (DT_TEST_GTEST_BIN)
 * on a master and a slave: the first job of a binary runs numeric shards (no
 * history) and its cases become the history; the next is planned from it,
 * and every case of the binary runs exactly once over its shards, a case the
 * history lacks (left out of the first job by its GTEST_FILTER) included, in
 * the exclusion shard. A job whose command line overrides the shards'
 * filter (--gtest_filter beats GTEST_FILTER) is flagged.
 *
 * The sample's cases take about 0 ms, which plans one shard; the test gives
 * the stored history durations (the planner's input) in the master's
 * database between jobs, as a slower binary's runs would have.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../src/common/log.ts";
import { archiveTargets, targetFromPaths } from "../../src/isolate/archive/archive.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import type { CaseSelection } from "../../src/master/cases/case-filter.ts";
import type { JobCasesPage, JobCaseView } from "../../src/master/protocol.ts";
import { readResults } from "../../src/results/collect.ts";
import { gtestBin, gtestBinMissing, runGtest, statusMap } from "../helpers/gtest.ts";
import { useCliCleanup } from "../helpers/scratch.ts";
import { E2E_TEST_TIMEOUT_MS, useCluster } from "./cluster.ts";

const MISSING = gtestBinMissing();
if (MISSING) console.warn(`SKIP test/e2e/auto-shards.test.ts: ${MISSING}`);

const { temps } = useCliCleanup();
const setupCluster = useCluster("dt-e2e-auto-shards-");

const BINARY = "sample_auto";
const NEW_SUITE = "ZLastTest";

describe.skipIf(MISSING !== undefined)('shards: "auto" with the real gtest binary', () => {
  test("numeric shards without history, then planned shards: every case exactly once, a new one in the exclusion shard; a shard run outside its filter is flagged", async () => {
    const bin = gtestBin()!;
    const local = await runGtest(bin, { dir: await temps.make("dt-e2e-auto-local-"), xml: true });
    const full = statusMap((await readResults({ outputsDir: local.outputsDir, stdoutLog: null, exitCode: local.exitCode })).cases);
    expect([...full.keys()].some((k) => k.startsWith(`${NEW_SUITE}.`))).toBe(true);

    const c = await setupCluster();
    await c.startMaster();
    await c.startSlave("s1", 3);
    const suite = join(c.dir, "suite");
    mkdirSync(suite, { recursive: true });
    copyFileSync(bin, join(suite, "sample_test"));
    const archive = async (command: string[]) => {
      const { results } = await archiveTargets([targetFromPaths({ root: suite, paths: ["sample_test"], command })], { cas: new CasClient(c.master!.url), log: createLogger({ level: "silent" }) });
      return results[0]!.digest.hash;
    };
    const hash = await archive(["./sample_test"]);
    const db = () => {
      const d = new Database(join(c.dataDir, "dt.sqlite"));
      // The master writes too (slaves' heartbeats): wait for its transaction rather than fail with SQLITE_BUSY.
      d.run("PRAGMA busy_timeout = 10000");
      return d;
    };
    const casesOf = async (jobId: string): Promise<JobCaseView[]> => {
      const page = await c.api.get<JobCasesPage>(`/api/v1/jobs/${jobId}/cases?status=all&limit=10000`);
      expect(page.next_cursor).toBeNull();
      return page.cases;
    };
    /** Each case ran once, and the set is `expected`'s. */
    const expectEachOnce = (cases: JobCaseView[], expected: string[]) => {
      expect(cases.filter((v) => v.runs !== 1).map((v) => `${v.suite}.${v.name} ran ${v.runs} times`)).toEqual([]);
      expect(cases.map((v) => `${v.suite}.${v.name}`).sort()).toEqual([...expected].sort());
    };
    /** Gives the binary's stored runs durations of 500 ms to 1.9 s, as a slower binary's would be. */
    const timeHistory = () => {
      const d = db();
      try {
        d.run("UPDATE cases SET duration_ms = 500 + 100 * (case_index % 15) WHERE test_binary = ?", [BINARY]);
      } finally {
        d.close();
      }
    };
    const selections = (jobId: string): Map<string, CaseSelection | null> => {
      const d = db();
      try {
        const rows = d.query("SELECT task_id, case_selection FROM tasks WHERE job_id = ?").all(jobId) as { task_id: string; case_selection: string | null }[];
        return new Map(rows.map((r) => [r.task_id, r.case_selection === null ? null : (JSON.parse(r.case_selection) as CaseSelection)]));
      } finally {
        d.close();
      }
    };

    // 1. No history: numeric shards (max_shards 3 < the default 8); the task's GTEST_FILTER leaves the new suite out of what becomes the history.
    const first = await c.submitNoWait([{ isolate_hash: hash, description: BINARY, shards: "auto", max_shards: 3, env: { GTEST_FILTER: `-${NEW_SUITE}.*` } }]);
    expect((await c.api.waitFinished(first)).flags).toEqual([]);
    const firstTasks = await c.api.tasks(first);
    expect(firstTasks.map((t) => [t.description, t.binary, t.shard_index, t.shard_count])).toEqual([0, 1, 2].map((i) => [`${BINARY}.${i}`, BINARY, i, 3]));
    expect([...selections(first).values()]).toEqual([null, null, null]);
    const known = [...full.keys()].filter((k) => !k.startsWith(`${NEW_SUITE}.`));
    expectEachOnce(await casesOf(first), known);

    // 2. Planned from that history: shards with case lists, one of them excluding the others' cases, which runs the new suite too.
    timeHistory();
    const second = await c.submitNoWait([{ isolate_hash: hash, description: BINARY, shards: "auto", shard_seconds: 1, max_shards: 4 }]);
    const secondSummary = await c.api.waitFinished(second);
    const secondTasks = await c.api.tasks(second);
    expect(secondTasks.map((t) => [t.description, t.binary, t.shard_index, t.shard_count])).toEqual([0, 1, 2, 3].map((i) => [`${BINARY}.${i}`, BINARY, i, 4]));
    const planned = selections(second);
    const exclusion = [...planned].filter(([, s]) => s !== null && "exclude" in s);
    expect(exclusion).toHaveLength(1);
    const [exclusionTask, exclusionSelection] = exclusion[0]!;
    const included = [...planned.values()].flatMap((s) => (s && "include" in s ? s.include.map((n) => `${n.suite}.${n.name}`) : []));
    expect(included.length).toBeGreaterThan(0);
    // The exclusion names exactly what the include lists run; the history's cases are all in one or the other.
    expect(("exclude" in exclusionSelection! ? exclusionSelection.exclude : []).map((n) => `${n.suite}.${n.name}`).sort()).toEqual([...included].sort());
    const secondCases = await casesOf(second);
    expectEachOnce(secondCases, [...full.keys()]);
    // Each case ran in the shard the plan gave it, and the new suite in the exclusion shard.
    for (const v of secondCases) {
      const key = `${v.suite}.${v.name}`;
      const owner = [...planned].find(([, s]) => s && "include" in s && s.include.some((n) => `${n.suite}.${n.name}` === key))?.[0] ?? exclusionTask;
      expect({ key, task: v.task_id }).toEqual({ key, task: owner });
    }
    expect(secondCases.filter((v) => v.suite === NEW_SUITE).map((v) => v.task_id)).toEqual([exclusionTask]);
    expect(secondSummary.flags).toEqual([]);

    // 3. The command line overrides the shards' filters: every shard runs MathTest.*, which all but one of them were not given.
    timeHistory();
    const overriding = await archive(["./sample_test", "--gtest_filter=MathTest.*"]);
    const third = await c.submitNoWait([{ isolate_hash: overriding, description: BINARY, shards: "auto", shard_seconds: 1, max_shards: 3 }]);
    const thirdSummary = await c.api.waitFinished(third);
    expect((await c.api.tasks(third)).length).toBe(3);
    const flags = thirdSummary.flags ?? [];
    expect(flags.length).toBeGreaterThan(0);
    // Compared as plain values: toMatchObject with a matcher inside writes the matcher into the object it checks.
    expect(flags.map((f) => [f.kind, f.attempt, /outside its filter|did not report/.test(f.text)])).toEqual(flags.map(() => ["case_selection", 0, true]));
    const texts = flags.map((f) => f.text);
    expect({ texts, outside: texts.some((t) => /ran \d+ cases? outside its filter: MathTest\./.test(t)) }).toEqual({ texts, outside: true });
    // An include shard without MathTest's cases ran none of its own.
    expect({ texts, missed: texts.some((t) => /did not report \d+ cases? of its filter/.test(t)) }).toEqual({ texts, missed: true });
    // The job's page lists them.
    const page = await (await fetch(`${c.master!.url}/job?job_id=${encodeURIComponent(third)}`)).text();
    expect(page).toContain(`Flags (${flags.length})`);
    // The client prints them after the summary.
    const watched = await c.dt(["watch", third]);
    expect(watched.stdout).toContain(`FLAG case_selection: ${flags[0]!.text}`);
  }, E2E_TEST_TIMEOUT_MS);
});

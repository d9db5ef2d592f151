/**
 * The real gtest binary (DT_TEST_GTEST_BIN) through dt, end to end: archived
 * from an .isolate with `dt archive`, run by `dt run-isolated` against a CAS
 * with `--gtest_output=xml:${ISOLATED_OUTDIR}/` (the report comes back in
 * the outputs tree) and without it (stdout only); and a job of it under
 * `dt local`, sharded and unsharded, whose tasks pass and fail as local runs
 * of the binary do and whose kept stdout logs hold every case exactly once;
 * and a job on a master and a slave, sharded with the XML and without it,
 * whose outputs and logs (`dt fetch -o -l`) give every case exactly once, as
 * do the cases the slave reported and the master stored; and the binary
 * aborting mid-case on a slave, stored as crashed with the signal.
 * What is expected comes from running the binary here, not from dt.
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { attemptPrefix, outputsDir } from "../../src/client/fetch.ts";
import { createLogger } from "../../src/common/log.ts";
import { archiveTargets, targetFromPaths } from "../../src/isolate/archive/archive.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import { parseIsolated } from "../../src/isolate/manifest.ts";
import type { RunIsolatedResult } from "../../src/isolate/run/run-isolated.ts";
import type { JobCasesPage } from "../../src/master/protocol.ts";
import { readResults } from "../../src/results/collect.ts";
import { junitXmlParser } from "../../src/results/junit-xml.ts";
import type { CaseResult, CaseStatus } from "../../src/results/model.ts";
import { startCas } from "../helpers/cas.ts";
import { cliEnv, runCli } from "../helpers/cli.ts";
import { caseKey, gtestBin, gtestBinMissing, runGtest, statusMap } from "../helpers/gtest.ts";
import { useCliCleanup } from "../helpers/scratch.ts";
import { E2E_TEST_TIMEOUT_MS, useCluster } from "./cluster.ts";

const MISSING = gtestBinMissing();
if (MISSING) console.warn(`SKIP test/e2e/gtest.test.ts: ${MISSING}`);

const { temps, servers } = useCliCleanup();

const setupCluster = useCluster("dt-e2e-gtest-cluster-");

const sorted = (map: Map<string, CaseStatus>) => [...map.entries()].sort(([a], [b]) => a.localeCompare(b));

/** The binary's cases and statuses from a local run (XML), with its exit code. */
async function localRun(bin: string, env: Record<string, string> = {}) {
  const run = await runGtest(bin, { dir: await temps.make("dt-e2e-gtest-local-"), xml: true, env });
  const results = await readResults({ outputsDir: run.outputsDir, stdoutLog: null, exitCode: run.exitCode });
  expect(results.cases.length).toBeGreaterThan(0);
  return { exitCode: run.exitCode, statuses: statusMap(results.cases) };
}

/** A directory holding the binary and an .isolate naming it, as a project's build leaves them. */
function suiteDir(dir: string, bin: string): string {
  const suite = join(dir, "suite");
  mkdirSync(suite, { recursive: true });
  copyFileSync(bin, join(suite, "sample_test"));
  writeFileSync(join(suite, "sample_test.isolate"), "{\n  'variables': {\n    'command': ['./sample_test'],\n    'files': ['sample_test'],\n  },\n}\n");
  writeFileSync(join(suite, "sample_test_xml.isolate"), "{\n  'variables': {\n    'command': ['./sample_test', '--gtest_output=xml:${ISOLATED_OUTDIR}/'],\n    'files': ['sample_test'],\n  },\n}\n");
  return suite;
}

describe.skipIf(MISSING !== undefined)("the real gtest binary through dt", () => {
  test("dt archive + dt run-isolated with a CAS: the XML comes back in the outputs tree and gives the local run's cases; without --gtest_output, stdout does", async () => {
    const bin = gtestBin()!;
    const expected = await localRun(bin);
    const dir = await temps.make("dt-e2e-gtest-ri-");
    const cas = await startCas(join(dir, "cas"));
    servers.push(cas);
    const env = cliEnv(join(dir, "home"));
    const suite = suiteDir(dir, bin);
    const dt = (args: string[]) => runCli(args, { cwd: dir, env, deadlineMs: 30_000 });

    const archived = await dt(["archive", "-I", cas.url, "-i", join(suite, "sample_test.isolate"), "-s", join(suite, "sample_test.isolated")]);
    expect(archived.exitCode, archived.stderr).toBe(0);
    const digest = archived.stdout.trim().split(/\s+/)[0]!;
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    const runIsolated = (name: string, extra: string[]) =>
      dt(["run-isolated", "-H", digest, "-I", cas.url, "--cache", join(dir, "cache"), "--root-dir", join(dir, "runs"), "--log-dir", join(dir, name), "--json", join(dir, `${name}.json`), "--", ...extra]);
    const json = (name: string): RunIsolatedResult => JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8"));

    // With the XML: written into ISOLATED_OUTDIR, uploaded as the outputs tree, fetched back from the CAS.
    const withXml = await runIsolated("xml", ["--gtest_output=xml:${ISOLATED_OUTDIR}/"]);
    expect(withXml.exitCode, withXml.stderr).toBe(expected.exitCode);
    const result = json("xml");
    expect(result).toMatchObject({ exit_code: expected.exitCode, internal_failure: null, task_error: null });
    expect(result.outputs_ref).toEqual({ isolated: expect.stringMatching(/^[0-9a-f]{64}$/), isolatedserver: cas.url, namespace: "sha-256" });
    const client = new CasClient(cas.url);
    const tree = parseIsolated(await client.getBytes(result.outputs_ref!.isolated), "outputs");
    expect(Object.keys(tree.files)).toEqual(["sample_test.xml"]);
    const fetched = join(dir, "fetched");
    mkdirSync(fetched);
    const entry = tree.files["sample_test.xml"]!;
    expect("h" in entry).toBe(true);
    writeFileSync(join(fetched, "sample_test.xml"), await client.getBytes((entry as { h: string }).h));
    const fromXml = await readResults({ outputsDir: fetched, stdoutLog: null, exitCode: result.exit_code });
    expect(fromXml.notes).toEqual([]);
    expect(sorted(statusMap(fromXml.cases))).toEqual(sorted(expected.statuses));

    // Without it: nothing in the outputs (so no tree), and the stdout log alone gives the same cases.
    const stdoutOnly = await runIsolated("stdout", []);
    expect(stdoutOnly.exitCode, stdoutOnly.stderr).toBe(expected.exitCode);
    expect(json("stdout").outputs_ref).toBeNull();
    const fromStdout = await readResults({ outputsDir: null, stdoutLog: join(dir, "stdout", "stdout"), exitCode: json("stdout").exit_code });
    expect(fromStdout.notes).toEqual([]);
    expect(sorted(statusMap(fromStdout.cases))).toEqual(sorted(expected.statuses));
  }, E2E_TEST_TIMEOUT_MS);

  test("dt local: sharded and unsharded tasks pass and fail as local runs do (exit 88), and the kept stdout logs of the 3 shards hold every case exactly once", async () => {
    const bin = gtestBin()!;
    const full = await localRun(bin);
    const shards = await Promise.all([0, 1, 2].map((i) => localRun(bin, { GTEST_TOTAL_SHARDS: "3", GTEST_SHARD_INDEX: String(i) })));
    // Every shard of the sample has a failing case, so every shard's task must fail.
    expect(shards.map((s) => s.exitCode)).toEqual([1, 1, 1]);
    const passing = [...full.statuses].filter(([, s]) => s === "passed").map(([key]) => key);
    const passingFilter = passing.join(":");
    const passingShards = await Promise.all([0, 1].map((i) => localRun(bin, { GTEST_FILTER: passingFilter, GTEST_TOTAL_SHARDS: "2", GTEST_SHARD_INDEX: String(i) })));
    expect(passingShards.map((s) => s.exitCode)).toEqual([0, 0]);

    const dir = await temps.make("dt-e2e-gtest-local-");
    const suite = suiteDir(dir, bin);
    writeFileSync(
      join(suite, "tasks.json"),
      JSON.stringify({
        tasks: [
          { isolate: "sample_test.isolate", description: "sample_test", shards: 3 },
          { isolate: "sample_test_xml.isolate", description: "sample_test_xml" },
          { isolate: "sample_test.isolate", description: "sample_test_passing", shards: 2, env: { GTEST_FILTER: passingFilter } },
        ],
      }),
    );
    const env = cliEnv(join(dir, "home"), { USER: "e2e", TMPDIR: dir });
    const junit = join(dir, "junit.xml");
    const r = await runCli(["local", join(suite, "tasks.json"), "--slaves", "2", "--slots", "1", "--junit", junit], { cwd: dir, env, deadlineMs: 50_000 });
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(88);
    const jobId = /^Job (local\.e2e\.\d+\.\d+):/m.exec(r.stdout)?.[1];
    expect(r.stdout).toMatch(/^Job local\.e2e\.\d+\.\d+: 2 of 6 tasks passed; 4 failed$/m);
    const failedLines = r.stdout.match(/^FAILED \S+ \(task \S+(?:, shard \d of 3 of sample_test)?, 1 attempt\)$/gm) ?? [];
    expect(failedLines.map((l) => l.split(" ")[1]).sort()).toEqual(["sample_test.0", "sample_test.1", "sample_test.2", "sample_test_xml"].sort());
    // A shard is named as one of its binary's shards, not as a test of its own.
    expect(r.stdout).toMatch(/^FAILED sample_test\.1 \(task \S+, shard 2 of 3 of sample_test, 1 attempt\)$/m);
    expect(r.stdout).toMatch(/^FAILED sample_test_xml \(task \S+, 1 attempt\)$/m);

    // The kept stdout logs of the three failed shards: each shard's cases as its local run, their union the unsharded run, each once.
    const kept = join(dir, "dt-local-results", jobId!);
    // Named as dt fetch names them: <task id with _>.<attempt>.<description with _>.stdout.
    const logs = readdirSync(kept).filter((f) => /\.0\.sample_test_\d\.stdout$/.test(f)).sort();
    expect(logs).toHaveLength(3);
    const union: CaseResult[] = [];
    for (const log of logs) {
      const { cases, notes } = await readResults({ outputsDir: null, stdoutLog: join(kept, log), exitCode: 1 });
      expect(notes).toEqual([]);
      const shard = Number(/_(\d)\.stdout$/.exec(log)![1]);
      expect({ log, cases: sorted(statusMap(cases)) }).toEqual({ log, cases: sorted(shards[shard]!.statuses) });
      union.push(...cases);
    }
    expect(sorted(statusMap(union))).toEqual(sorted(full.statuses));
    expect(union.map(caseKey).sort()).toEqual([...full.statuses.keys()].sort());

    // The report ends with each failed case by name, per binary (the 3 shards' cases one set), each with its kept log, then the counts.
    const failedKeys = [...full.statuses].filter(([, s]) => s === "failed" || s === "crashed").map(([key]) => key).sort();
    expect(failedKeys.length).toBeGreaterThan(0);
    const caseLines = [...r.stdout.matchAll(/^(?:FAILED |CRASHED) (\S+) › (\S+)(?: {2}.*)?\n {2}log: (\S+)$/gm)];
    for (const binary of ["sample_test", "sample_test_xml"]) {
      expect({ binary, cases: caseLines.filter((m) => m[1] === binary).map((m) => m[2]).sort() }).toEqual({ binary, cases: failedKeys });
    }
    for (const m of caseLines) expect(readdirSync(kept)).toContain(m[3]!.split("/").at(-1)!);
    const count = (s: CaseStatus) => [...full.statuses.values()].filter((v) => v === s).length;
    const total = 2 * full.statuses.size + passing.length;
    expect(r.stdout).toContain(`${total} cases: ${2 * count("passed") + passing.length} passed, ${2 * (count("failed") + count("crashed"))} failed${count("skipped") > 0 ? `, ${2 * count("skipped")} skipped` : ""}\n`);

    // The JUnit file has every case of every binary once, with the local runs' statuses (crashed reads back as failed).
    const junitCases = (await junitXmlParser.parse(junit)).cases;
    const asJunit = (s: CaseStatus) => (s === "crashed" ? "failed" : s);
    const expectedCases = [...[...full.statuses, ...full.statuses].map(([key, s]) => `${key} ${asJunit(s)}`), ...passing.map((key) => `${key} passed`)].sort();
    expect(junitCases.map((c) => `${caseKey(c)} ${c.status}`).sort()).toEqual(expectedCases);
    expect(Bun.spawnSync(["xmllint", "--noout", junit]).exitCode).toBe(0);
  }, E2E_TEST_TIMEOUT_MS);

  test("dt master + dt slave, 3 shards with --gtest_output=xml and 3 without: dt fetch -o gives each XML shard's report, dt fetch -l each stdout; both unions are the local run's cases, each exactly once", async () => {
    const bin = gtestBin()!;
    const full = await localRun(bin);
    const c = await setupCluster();
    await c.startMaster();
    await c.startSlave("s1", 2);
    const suite = suiteDir(c.dir, bin);
    const archive = async (command: string[]) => {
      const { results } = await archiveTargets([targetFromPaths({ root: suite, paths: ["sample_test"], command })], { cas: new CasClient(c.master!.url), log: createLogger({ level: "silent" }) });
      return results[0]!.digest.hash;
    };
    const jobId = await c.submitNoWait([
      { isolate_hash: await archive(["./sample_test", "--gtest_output=xml:${ISOLATED_OUTDIR}/"]), description: "sample_xml", shards: 3 },
      { isolate_hash: await archive(["./sample_test"]), description: "sample_stdout", shards: 3 },
    ]);
    const summary = await c.api.waitFinished(jobId);
    expect(summary.status).toBe("finished");
    const out = join(c.dir, "fetched");
    const fetched = await c.dt(["fetch", "-o", "-l", "-d", out, jobId]);
    expect(fetched.exitCode, fetched.stderr).toBe(0);

    const union: Record<string, CaseResult[]> = { sample_xml: [], sample_stdout: [] };
    const tasks = await c.api.tasks(jobId);
    expect(tasks).toHaveLength(6);
    for (const task of tasks) {
      // Every shard has a failing case: one failed attempt each, no retries asked for.
      expect(task.attempts.map((a) => a.state)).toEqual(["FAILED"]);
      const attempt = task.attempts[0]!;
      const binary = task.description.replace(/\.\d+$/, "");
      const stdoutLog = join(out, `${attemptPrefix(task, attempt)}.stdout`);
      if (binary === "sample_xml") {
        expect(attempt.outputs_ref).not.toBeNull();
        const results = await readResults({ outputsDir: outputsDir(out, task, attempt), stdoutLog: null, exitCode: attempt.exit_code });
        expect(results.sources.map((s) => s.format)).toEqual(["gtest-xml"]);
        union.sample_xml!.push(...results.cases);
      } else {
        // Nothing written to ISOLATED_OUTDIR: no outputs tree, the log is all there is.
        expect(attempt.outputs_ref).toBeNull();
        const results = await readResults({ outputsDir: null, stdoutLog, exitCode: attempt.exit_code });
        expect(results.notes).toEqual([]);
        union.sample_stdout!.push(...results.cases);
      }
    }
    for (const [binary, cases] of Object.entries(union)) {
      expect({ binary, cases: sorted(statusMap(cases)) }).toEqual({ binary, cases: sorted(full.statuses) });
    }
    // What the slave reported, as the master stored it: per binary (the shards' union), the local run's cases and statuses.
    const page = await c.api.get<JobCasesPage>(`/api/v1/jobs/${jobId}/cases?status=all&limit=10000`);
    expect(page.next_cursor).toBeNull();
    for (const binary of ["sample_xml", "sample_stdout"]) {
      const stored = page.cases.filter((v) => v.binary === binary).map((v) => ({ suite: v.suite, name: v.name, status: v.status as CaseStatus }));
      expect({ binary, cases: sorted(statusMap(stored as CaseResult[])) }).toEqual({ binary, cases: sorted(full.statuses) });
    }
  }, E2E_TEST_TIMEOUT_MS);

  test("dt master + dt slave, the binary aborting mid-case (DT_SAMPLE_ABORT): the attempt FAILED saying where, the master stores the case as crashed with the signal", async () => {
    const bin = gtestBin()!;
    const c = await setupCluster();
    await c.startMaster();
    await c.startSlave("s1", 1);
    const suite = suiteDir(c.dir, bin);
    const { results } = await archiveTargets([targetFromPaths({ root: suite, paths: ["sample_test"], command: ["./sample_test", "--gtest_output=xml:${ISOLATED_OUTDIR}/"] })], {
      cas: new CasClient(c.master!.url), log: createLogger({ level: "silent" }),
    });
    const jobId = await c.submitNoWait([{ isolate_hash: results[0]!.digest.hash, description: "sample_abort", env: { DT_SAMPLE_ABORT: "1" } }]);
    await c.api.waitFinished(jobId);
    const [task] = await c.api.tasks(jobId);
    expect(task!.attempts.map((a) => [a.state, a.exit_code, a.message])).toEqual([["FAILED", 134, "killed by SIGABRT; crashed in CrashTest.AbortsWhenAsked"]]);
    const page = await c.api.get<JobCasesPage>(`/api/v1/jobs/${jobId}/cases?status=crashed`);
    expect(page.cases.map((v) => [v.binary, v.suite, v.name, v.status, v.message])).toEqual([["sample_abort", "CrashTest", "AbortsWhenAsked", "crashed", "crashed (signal 6, SIGABRT)"]]);
  }, E2E_TEST_TIMEOUT_MS);
});

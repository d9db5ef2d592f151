/**
 * `dt local` on the example suite: its own master and two slave processes,
 * the .isolate files archived, the job watched and summarized.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bootId, readProcess } from "../../src/slave/proc-table.ts";
import { slaveDirName } from "../../src/slave/slave-dir.ts";
import { cliEnv, killRunningClis, runCli } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";
import { waitUntil } from "../helpers/wait.ts";
import { E2E_TEST_TIMEOUT_MS } from "./cluster.ts";

const REPO = join(import.meta.dir, "..", "..");
const temps = new TempDirs();
const strangers: { kill(): void }[] = [];

afterEach(async () => {
  for (const s of strangers.splice(0)) s.kill();
  // runCli started dt local in its own process group, and its slaves are in it: one kill takes them all.
  killRunningClis();
  await temps.cleanup();
});

describe("dt local examples/suite/tasks.json", () => {
  test("exits 88 naming failing_test, and flaky_test passed on its retry", async () => {
    const dir = await temps.make("dt-e2e-local-");
    // TMPDIR: dt local's own data dir lands here, so it is removed even if dt local is killed half-way.
    const env = cliEnv(join(dir, "home"), { USER: "e2e", TMPDIR: dir });
    const junit = join(dir, "report.xml");
    // Run from the temp dir: dt local keeps the failures' logs under the working directory.
    const r = await runCli(["local", join(REPO, "examples/suite/tasks.json"), "--slaves", "2", "--slots", "1", "--junit", junit], { cwd: dir, env, deadlineMs: 45_000 });
    expect(r.exitCode, r.stderr).toBe(88);
    const jobId = /^Job (local\.e2e\.\d+\.\d+):/m.exec(r.stdout)?.[1];
    const kept = `dt-local-results/${jobId}`;

    // Each failure as it happened, before the summary, with the copy of its log.
    const live = r.stdout.slice(0, r.stdout.indexOf(`Job ${jobId}:`));
    expect(live).toMatch(/^FAILED failing_test \(task \S+\), attempt 0: exit 1, on local-[01]; no retries$/m);
    expect(live).toMatch(/^FAILED flaky_test \(task \S+\), attempt 0: exit 1, on local-[01]; retry 1 of 1 queued$/m);
    expect(live).toContain(`  stderr: ${kept}/`);
    // No link to the master that stopped: every link in the output is a kept file.
    expect(r.stdout).not.toContain("http://");
    const failingStderr = new RegExp(`^ {4}stderr: (${kept.replaceAll(".", "\\.")}/\\S+failing_test\\.stderr)$`, "m").exec(r.stdout)?.[1];
    expect(readFileSync(join(dir, failingStderr!), "utf8")).toContain("FAIL: expected 'omega', got 'epsilon'");
    expect(r.stderr).toContain(`the logs of the failed attempts are kept in ${join(dir, kept)}`);

    const progress = r.stdout.split("\n").filter((l) => l.includes("tests complete"));
    expect(progress.at(-1)).toMatch(/^ \d+\.\ds\t 7\/7 tests complete \(1 failed\) \(1 retries\)$/);
    expect(r.stdout).toMatch(/^Job local\.e2e\.\d+\.\d+: 6 of 7 tasks passed \(1 flaky\); 1 failed$/m);
    expect(r.stdout).toMatch(/^FAILED failing_test \(task \S+, 1 attempt\)$/m);
    expect(r.stdout).toMatch(/^FLAKY flaky_test \(task \S+, 2 attempts\)$/m);
    // Only the failed attempt of the flaky group is listed; its retry passed.
    const flakyLines = r.stdout.slice(r.stdout.indexOf("FLAKY flaky_test")).split("\n").slice(1).filter((l) => l.startsWith("  attempt"));
    expect(flakyLines).toEqual([expect.stringMatching(/^ {2}attempt 0: FAILED, exit 1, on local-[01]$/)]);
    // The failures' output, printed because the master's links die with it.
    expect(r.stdout).toContain("--- failing_test, attempt 0, stderr (last 1 lines) ---\nFAIL: expected 'omega', got 'epsilon'\n");
    expect(r.stdout).toContain("--- flaky_test, attempt 0, stdout (last 1 lines) ---\nattempt 0\n");
    expect(r.stdout).not.toContain("flaky_test, attempt 1");

    const xml = await Bun.file(junit).text();
    expect(xml).toContain('tests="7" failures="1"');
    expect(xml).toMatch(/flaky: passed after 1 failed attempt\(s\)[^<]*attempt 1: SUCCEEDED, exit code 0/);
    expect(xml).toContain(`stderr: ${kept}/`);
    expect(xml).not.toContain("http://");

    // Its temporary master data dir is gone, and the user's last-job file (which names jobs of their real master) is untouched.
    const dataDir = /data in (\S+)/.exec(r.stderr)?.[1];
    expect(dataDir?.startsWith(dir)).toBe(true);
    expect(existsSync(dataDir!)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith("dt-local-") && f !== "dt-local-results")).toEqual([]);
    expect(existsSync(join(env.HOME!, ".dist-test-last-job"))).toBe(false);
  }, E2E_TEST_TIMEOUT_MS);
});

describe("dt local --data-dir DIR", () => {
  test("a slave that cannot start (its name taken by a live slave an earlier dt local left) is named on the terminal with its reason; the others run the job", async () => {
    const dir = await temps.make("dt-e2e-local-");
    const env = cliEnv(join(dir, "home"), { USER: "e2e", TMPDIR: dir });
    const dataDir = join(dir, "data");
    const suite = join(dir, "suite");
    mkdirSync(suite);
    writeFileSync(join(suite, "input.txt"), "hello\n");
    // What a dt local killed with SIGKILL leaves: its slave local-0 running on, owning its directory.
    const leftOver = Bun.spawn(["sleep", "300"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    strangers.push(leftOver);
    await waitUntil(() => readProcess(leftOver.pid) !== null, "the left-over process to start");
    const owned = join(dataDir, "runs", slaveDirName("local-0"));
    mkdirSync(owned, { recursive: true });
    writeFileSync(join(owned, "owner.json"), JSON.stringify({ pid: leftOver.pid, start_time: readProcess(leftOver.pid)!.startTime, boot_id: bootId() }));

    const r = await runCli(["local", "--dir", suite, "--data-dir", dataDir, "--slaves", "2", "--slots", "1", "--", "cat input.txt"], { cwd: REPO, env, deadlineMs: 45_000 });

    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/slave local-0 ended \(exit \d+\) while dt local runs: .*already runs on this host \(pid \d+\)/);
    expect(r.stderr).toContain(join(dataDir, "slave-0.log"));
    expect(r.stderr).not.toContain("slave local-1 ended");
  }, E2E_TEST_TIMEOUT_MS);
});

describe("dt local's failure output", () => {
  test("shows the end of a log past 4 MiB, and the output of at most 20 failed attempts", async () => {
    const dir = await temps.make("dt-e2e-local-");
    const env = cliEnv(join(dir, "home"), { USER: "e2e", TMPDIR: dir });
    const suite = join(dir, "suite");
    mkdirSync(suite);
    writeFileSync(join(suite, "input.txt"), "hello\n");
    const big = "head -c 5000000 /dev/zero | tr '\\0' x | fold -w 100; echo; echo 'the last line'; exit 1";
    const small = Array.from({ length: 24 }, (_, i) => `echo failing ${i}; exit 1`);
    const r = await runCli(["local", "--dir", suite, "--slaves", "2", "--slots", "2", "--", big, ...small], { cwd: dir, env, deadlineMs: 45_000 });
    expect(r.exitCode, r.stderr).toBe(88);
    // Read from the start, the tail shown was of the first 4 MiB only: lines of x, never the last one.
    expect(r.stdout).toMatch(/^--- head -c 5000000 .*, attempt 0, stdout \(last 15 lines\) ---\n(x{100}\n){14}the last line\n/m);
    expect(r.stdout.match(/^--- .*, attempt 0, stdout \(last \d+ lines\) ---$/gm)).toHaveLength(20);
    expect(r.stdout).toContain("--- 5 more failed attempts: their logs are where the report above says ---\n");
  }, E2E_TEST_TIMEOUT_MS);
});

/**
 * `dt flaky` against a real master whose history came from real jobs
 * (test/master/flaky-history.ts): the table (test, jobs, runs, failures,
 * flaky, rate, latest failure with its job and log link) and `--json` (the
 * master's answer); flags refused before any request; a master that cannot
 * be reached is the usual unreachable exit; and the command as a process,
 * with dt's strict argv.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import flaky from "../../src/commands/flaky.ts";
import { EXIT } from "../../src/commands/exit-codes.ts";
import type { FlakyCases } from "../../src/master/protocol.ts";
import { CLI_TEST_TIMEOUT_MS, cliEnv, killRunningClis, runCli } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";
import { type FlakyHistory, startFlakyHistory } from "../master/flaky-history.ts";
import { useClientWorld } from "./harness.ts";

const world = useClientWorld();
const temps = new TempDirs();
let h: FlakyHistory;
beforeAll(async () => {
  h = await startFlakyHistory();
});
afterEach(() => killRunningClis());
afterAll(async () => {
  await h?.stop();
  await temps.cleanup();
});

/** 2023-11-14 22:13:20Z: before every job of the history, so the window is the same on every run. */
const SINCE = "1700000000000";
const utc = (ms: number) => `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")}Z`;

test("dt flaky prints the flaky case with its counts, rate, latest failure and log link; --json prints the master's answer", async () => {
  const w = await world();
  w.env.DIST_TEST_MASTER = h.url;
  const answer = (await (await fetch(`${h.url}/api/v1/tests/flaky?since=${SINCE}`)).json()) as FlakyCases;
  const f = answer.cases[0]!.last_failure!;
  const r = await w.run(flaky, ["--since", SINCE]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const log = `${h.url}/view_log?job_id=flaky.1&task_id=${encodeURIComponent(h.failing.task_id)}&attempt=0&log=stdout`;
  expect(r.stdout.split("\n")).toEqual([
    "Flaky test cases since 2023-11-14 22:13:20Z (rate: flaky jobs ÷ jobs that ran the case):",
    "TEST                    JOBS  RUNS  FAILURES  FLAKY  RATE  LAST FAILURE          JOB      LOG",
    `unit_tests › Net.Retry  2     3     1         1      50%   ${utc(f.reported_at)}  flaky.1  ${log}`,
    "",
  ]);
  // The printed link serves the failing attempt's log.
  expect(await (await fetch(log)).text()).toContain(h.failingLog.trim());

  const json = await w.run(flaky, ["--since", SINCE, "--json", "--min-runs", "2", "--binary", "unit_tests", "--limit", "5"]);
  expect(json.code).toBe(0);
  expect(JSON.parse(json.stdout)).toEqual({ ...answer, min_runs: 2, binary: "unit_tests" });

  const none = await w.run(flaky, ["--since", "2099-01-01", "--min-runs", "3"]);
  expect(none.code).toBe(0);
  expect(none.stdout).toBe("No flaky test cases since 2099-01-01 00:00:00Z, in at least 3 jobs.\n");
});

test("bad flags are refused with exit 2 before any request, naming the flag and what to pass", async () => {
  const w = await world();
  for (const [args, message] of [
    [["--since", "soon"], /--since: cannot read "soon" as a time; write a duration back from now/],
    [["--since", "2024-02-31"], /--since: cannot read/],
    [["--min-runs", "0"], /--min-runs: "0" is not an integer from 1 to 1000000/],
    [["--min-runs", "two"], /--min-runs: "two" is not an integer/],
    [["--limit", "1001"], /--limit: "1001" is not an integer from 1 to 1000/],
    [["--binary", ""], /--binary: is empty; name a test binary/],
  ] as const) {
    const r = await w.run(flaky, [...args]);
    expect(r.code, args.join(" ")).toBe(EXIT.invalidInput);
    expect(r.stderr).toMatch(message);
  }
  expect(w.master.requests).toEqual([]);
});

test("a master that cannot be reached is the unreachable exit, naming the request", async () => {
  const w = await world();
  // A port that was just free: nothing listens there.
  const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const url = `http://127.0.0.1:${closed.port}`;
  closed.stop(true);
  w.env.DIST_TEST_MASTER = url;
  const r = await w.run(flaky, []);
  expect(r.code).toBe(EXIT.unreachable);
  expect(r.stderr).toContain("flaky test cases");
});

test(
  "as a process: dt flaky --master URL prints the table, and an unknown flag is exit 2 with a pointer to its help",
  async () => {
    const env = cliEnv(await temps.make("dt-flaky-home-"));
    const ok = await runCli(["flaky", "--master", h.url, "--since", SINCE], { env });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("unit_tests › Net.Retry  2     3     1         1      50%");
    const bad = await runCli(["flaky", "--master", h.url, "--min-run", "2"], { env });
    expect(bad.exitCode).toBe(EXIT.invalidInput);
    expect(bad.stderr).toContain("--min-run");
    expect(bad.stderr).toContain("--min-runs");
  },
  CLI_TEST_TIMEOUT_MS,
);

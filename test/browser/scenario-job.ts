/**
 * A real `dt master` and two real `dt slave`s (child processes, from source)
 * running one job with every kind of task the job page must tell apart:
 *
 * - `passes`: passes, one gtest-like case;
 * - `fails`: prints coloured lines and gtest-like output with one failing
 *   case (`fails_test.cc:12: Failure`), exits 1 (no retries);
 * - `flaky`: fails its first attempt (a marker file outside the run dir),
 *   passes its retry (max_retries 1): a flaky task and a flaky case;
 * - `sharded`: `shards: 3`, dt's sample gtest binary (DT_TEST_GTEST_BIN)
 *   with its failing cases filtered out, writing gtest XML; without the
 *   binary, a shell stand-in printing one gtest-like case per shard (and
 *   `gtestFallback` says why);
 * - `lost`: the only task the slave `doomed` may run (the others need the
 *   dimension pool=steady); that slave is SIGKILLed while it runs, so the
 *   attempt ends SLAVE_LOST after the short lease and the task is requeued
 *   and passes on the slave `steady`;
 * - `chatty`: prints a coloured line every ~50 ms until `finishChatty()`
 *   (or, as a backstop, a few minutes), so a test can look at a running
 *   log and a running trace bar for as long as it needs, then watch the job
 *   finish.
 *
 * `startScenarioJob()` resolves once every task but `chatty` has finished
 * and `chatty` has written 100 lines (more than a window holds). Free of
 * bun:test, so `bun run screenshots` uses it too.
 *
 * @example
 *   const s = await startScenarioJob();
 *   try { await fetch(s.pages.job); s.finishChatty(); await s.waitFinished(); } finally { await s.close(); }
 */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../src/common/log.ts";
import { archiveTargets, targetFromPaths } from "../../src/isolate/archive/archive.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import type { JobSummary, TaskRequest, TaskView } from "../../src/master/protocol.ts";
import { DtProcess, START_DEADLINE_MS, killRecordedTasks, recordedPid } from "../e2e/processes.ts";
import { cliEnv } from "../helpers/cli.ts";
import { gtestBin, gtestBinMissing } from "../helpers/gtest.ts";
import { TempDirs } from "../helpers/temp.ts";
import { type TreeSpec, shellScript, writeTree } from "../helpers/tree.ts";
import { CHATTY_SCRIPT, FAILS_SCRIPT, FLAKY_SCRIPT, LOST_SCRIPT, PASSES_SCRIPT, SAMPLE_PASSING_FILTER, SHARDS, SHARD_STANDIN_SCRIPT, TASK } from "./scenario-tasks.ts";

export { FAILED_CASE, FAILED_CASE_LINES, FLAKY_CASE, SHARDS, TASK } from "./scenario-tasks.ts";

const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");
/**
 * Short, so the killed slave's attempt is SLAVE_LOST within seconds; the
 * heartbeat stays under half of the TTL, as `dt master` requires (the e2e
 * cluster uses the same pair).
 */
const LEASE_TTL = "3s";
const HEARTBEAT_INTERVAL = "1s";
/** From submit to "all but chatty done": two slave start-ups, the lease TTL and a retry; ~6 s here, ample for a loaded CI machine. */
const READY_DEADLINE_MS = 40_000;
/** Between two looks at the job: the master shares the 2 cores with the slaves. */
const API_POLL_MS = 100;
/**
 * Lines chatty has written before the scenario counts as ready: more than a
 * window's height (~22 px a line), so the viewer's "opens at the end" and a
 * line anchor's scroll have somewhere to go. About five seconds of chatter.
 */
const CHATTY_READY_LINES = 100;

export const SLAVE_DOOMED = "doomed";
export const SLAVE_STEADY = "steady";

export interface ScenarioJob {
  /** The master's base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  jobId: string;
  /** The tasks as last read (readTasks, waitTasks): at first, as the scenario became ready (chatty running, the rest finished). */
  tasks: TaskView[];
  /** Why the sharded task runs a shell stand-in rather than the gtest binary, or undefined when it runs the binary. */
  gtestFallback: string | undefined;
  /** Page URLs by name: a reviewer's screenshots, and what the tests open. */
  pages: Record<"index" | "job" | "trace" | "slaves" | "chattyLog" | "chattyViewLog" | "failedLog", string>;
  /** The task with this description (a shard: `sharded.1`), as last read. */
  task(description: string): TaskView;
  job(): Promise<JobSummary>;
  /** Reads the job's tasks afresh (and updates `tasks`). */
  readTasks(): Promise<TaskView[]>;
  /** Polls the job's tasks until `ready` holds; fails past the deadline with `what` and the last states seen. */
  waitTasks(what: string, ready: (tasks: TaskView[]) => boolean, deadlineMs?: number): Promise<TaskView[]>;
  /** Lets chatty end (it passes within ~50 ms). Idempotent. */
  finishChatty(): void;
  /** Polls until the job reads finished; returns its summary. */
  waitFinished(deadlineMs?: number): Promise<JobSummary>;
  /** Kills the slaves, the master and any task they left running, and removes the temp dir. */
  close(): Promise<void>;
}

/** `description: group [attempt states@slave]` per task, for a message that shows where the job was. */
export function describeTasks(tasks: readonly TaskView[]): string {
  return tasks.map((t) => `${t.description}: ${t.group} [${t.attempts.map((a) => `${a.state}@${a.slave ?? "-"}`).join(", ")}]`).join("; ") || "no tasks";
}

const FINISHED_GROUPS = new Set(["succeeded", "failed", "flaky", "quarantined", "canceled"]);

export async function startScenarioJob(): Promise<ScenarioJob> {
  const temps = new TempDirs();
  const processes: DtProcess[] = [];
  let pidDir = "";
  let release = "";
  const finishChatty = () => {
    if (release) writeFileSync(release, "");
  };
  const close = async () => {
    // Chatty and the lost attempt run in process groups of their own, which outlive a SIGKILLed slave: end them by their recorded pids.
    finishChatty();
    for (const p of processes) p.killGroup("SIGKILL");
    await Promise.all(processes.map((p) => p.exited.catch(() => 0)));
    if (pidDir) killRecordedTasks(pidDir);
    await temps.cleanup();
  };
  try {
    const dir = await temps.make("dt-browser-scenario-");
    pidDir = join(dir, "pids");
    release = join(dir, "chatty-release");
    mkdirSync(pidDir);
    // Slaves hand their environment down to tasks: PID_DIR reaches RECORD_PID.
    const env = cliEnv(join(dir, "home"), { USER: "reviewer", PID_DIR: pidDir });
    const spawnDt = (name: string, args: string[]) => {
      // detached: the child leads a new process group, which close() kills whole.
      const child = new DtProcess(name, Bun.spawn([process.execPath, MAIN, ...args], { cwd: dir, env, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true }));
      processes.push(child);
      return child;
    };

    const master = spawnDt("master", ["master", "--port", "0", "--host", "127.0.0.1", "--data-dir", join(dir, "master"), "--lease-ttl", LEASE_TTL, "--heartbeat-interval", HEARTBEAT_INTERVAL]);
    const url = (await master.waitForOutput(/master listening on (http:\/\/127\.0\.0\.1:\d+)/, "its listening line"))[1]!;
    const getJson = async <T>(path: string): Promise<T> => {
      const res = await fetch(`${url}${path}`);
      if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };
    const jobPath = (jobId: string) => `/api/v1/jobs/${encodeURIComponent(jobId)}`;

    const cas = new CasClient(url);
    const log = createLogger({ level: "silent" });
    const archive = async (name: string, spec: TreeSpec, command: string[], paths = ["."]) => {
      const root = join(dir, "trees", name);
      await writeTree(root, spec);
      return (await archiveTargets([targetFromPaths({ root, paths, command })], { cas, log })).results[0]!.digest.hash;
    };
    const gtestFallback = gtestBinMissing();
    const archiveSharded = async () => {
      if (gtestFallback) return archive("sharded", { "shard.sh": shellScript(SHARD_STANDIN_SCRIPT) }, ["./shard.sh"]);
      const root = join(dir, "trees", "sharded");
      mkdirSync(root, { recursive: true });
      copyFileSync(gtestBin()!, join(root, "sample_test"));
      return archive("sharded", {}, ["./sample_test", "--gtest_output=xml:${ISOLATED_OUTDIR}/"], ["sample_test"]);
    };
    const [passes, fails, flaky, sharded, lost, chatty] = await Promise.all([
      archive("passes", { "run.sh": shellScript(PASSES_SCRIPT) }, ["./run.sh"]),
      archive("fails", { "run.sh": shellScript(FAILS_SCRIPT) }, ["./run.sh"]),
      archive("flaky", { "run.sh": shellScript(FLAKY_SCRIPT) }, ["./run.sh"]),
      archiveSharded(),
      archive("lost", { "run.sh": shellScript(LOST_SCRIPT) }, ["./run.sh"]),
      archive("chatty", { "run.sh": shellScript(CHATTY_SCRIPT) }, ["./run.sh"]),
    ]);

    // Every task but `lost` needs pool=steady, which only the slave `steady` offers: `doomed` can run `lost` alone.
    const steady = { pool: "steady" };
    const requests: TaskRequest[] = [
      { isolate_hash: passes, description: TASK.passes, dimensions: steady },
      { isolate_hash: fails, description: TASK.fails, max_retries: 0, dimensions: steady },
      { isolate_hash: flaky, description: TASK.flaky, max_retries: 1, dimensions: steady, env: { FLAKY_MARKER: join(dir, "flaky-failed-once") } },
      { isolate_hash: sharded, description: TASK.sharded, shards: SHARDS, dimensions: steady, ...(gtestFallback ? {} : { env: { GTEST_FILTER: SAMPLE_PASSING_FILTER } }) },
      { isolate_hash: lost, description: TASK.lost, max_retries: 0 },
      { isolate_hash: chatty, description: TASK.chatty, dimensions: steady, env: { CHATTY_RELEASE: release } },
    ];
    const res = await fetch(`${url}/api/v1/jobs`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: "scenario", user: "reviewer", tasks: requests }),
    });
    if (res.status !== 201) throw new Error(`POST /api/v1/jobs: ${res.status} ${await res.text()}`);
    const { job_id: jobId } = (await res.json()) as { job_id: string };

    let tasks: TaskView[] = [];
    const readTasks = async () => (tasks = (await getJson<{ tasks: TaskView[] }>(`${jobPath(jobId)}/tasks`)).tasks);
    const task = (description: string) => {
      const found = tasks.find((t) => t.description === description);
      if (!found) throw new Error(`job ${jobId} has no task ${description}; it has ${tasks.map((t) => t.description).join(", ")}`);
      return found;
    };
    const waitTasks = async (what: string, ready: (tasks: TaskView[]) => boolean, deadlineMs = READY_DEADLINE_MS) => {
      const deadline = performance.now() + deadlineMs;
      while (!ready(await readTasks())) {
        if (performance.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what} (job ${jobId}; last seen: ${describeTasks(tasks)})`);
        await Bun.sleep(API_POLL_MS);
      }
      return tasks;
    };
    const job = () => getJson<JobSummary>(jobPath(jobId));
    const waitFinished = async (deadlineMs = READY_DEADLINE_MS) => {
      const deadline = performance.now() + deadlineMs;
      for (;;) {
        const summary = await job();
        if (summary.status === "finished") return summary;
        if (performance.now() > deadline) throw new Error(`job ${jobId} did not finish within ${deadlineMs} ms (last seen: ${describeTasks(await readTasks())})`);
        await Bun.sleep(API_POLL_MS);
      }
    };
    const byName = (all: TaskView[], description: string) => all.find((t) => t.description === description);

    // `doomed` first, alone: it leases `lost` (all it may run), and dies in the middle of it.
    const doomed = spawnDt(SLAVE_DOOMED, ["slave", "--master", url, "--slots", "1", "--cache-dir", join(dir, "cache-doomed"), "--name", SLAVE_DOOMED]);
    await waitTasks("lost to run on the doomed slave", (all) => byName(all, TASK.lost)?.attempts[0]?.state === "RUNNING", START_DEADLINE_MS + READY_DEADLINE_MS);
    // In its command, not only leased: the lost attempt dies running.
    await recordedPid(pidDir, task(TASK.lost).task_id, 0);
    doomed.killGroup("SIGKILL");
    spawnDt(SLAVE_STEADY, ["slave", "--master", url, "--slots", "8", "--cache-dir", join(dir, "cache-steady"), "--name", SLAVE_STEADY, "--dimensions", "pool=steady"]);

    const othersDone = (all: TaskView[]) =>
      all.length === requests.length - 1 + SHARDS &&
      all.every((t) => t.description === TASK.chatty || FINISHED_GROUPS.has(t.group)) &&
      byName(all, TASK.chatty)?.attempts[0]?.state === "RUNNING";
    await waitTasks("every task but chatty to finish while chatty runs", othersDone, START_DEADLINE_MS + READY_DEADLINE_MS);
    const chattyTask = task(TASK.chatty);
    const logQuery = (taskId: string) => new URLSearchParams({ job_id: jobId, task_id: taskId, attempt: "0", log: "stdout" }).toString();
    const chattyLines = async () => (await (await fetch(`${url}${jobPath(jobId)}/log?${new URLSearchParams({ task: chattyTask.task_id, attempt: "0", stream: "stdout" })}`)).text()).split("\n").length - 1;
    const linesDeadline = performance.now() + READY_DEADLINE_MS;
    while ((await chattyLines()) < CHATTY_READY_LINES) {
      if (performance.now() > linesDeadline) throw new Error(`chatty wrote fewer than ${CHATTY_READY_LINES} lines in ${READY_DEADLINE_MS} ms`);
      await Bun.sleep(API_POLL_MS);
    }

    const query = (params: Record<string, string>) => new URLSearchParams(params).toString();
    return {
      url,
      jobId,
      get tasks() {
        return tasks;
      },
      gtestFallback,
      pages: {
        index: `${url}/`,
        job: `${url}/job?${query({ job_id: jobId })}`,
        trace: `${url}/trace?${query({ job_id: jobId })}`,
        slaves: `${url}/slaves`,
        chattyLog: `${url}/log?${logQuery(chattyTask.task_id)}`,
        chattyViewLog: `${url}/view_log?${logQuery(chattyTask.task_id)}`,
        failedLog: `${url}/view_log?${logQuery(task(TASK.fails).task_id)}`,
      },
      task,
      job,
      readTasks,
      waitTasks,
      finishChatty,
      waitFinished,
      close,
    };
  } catch (error) {
    const output = processes.map((p) => `--- ${p.name}:\n${p.output}`).join("\n");
    await close();
    throw new Error(`the scenario job did not come up: ${(error as Error).message}\n${output}`, { cause: error });
  }
}

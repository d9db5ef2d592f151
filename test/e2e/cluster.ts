/**
 * A dt installation made of real processes for end-to-end tests: `dt master`
 * and `dt slave` children (each in its own process group), trees archived in
 * process into the master's CAS, and the master's HTTP API. `useCluster()`
 * registers an afterEach that SIGKILLs every group it started, the tasks that
 * wrote their pids down, and removes the temp dirs, even when a test failed.
 */
import { afterEach } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../src/common/log.ts";
import { archiveTargets, targetFromPaths } from "../../src/isolate/archive/archive.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import type { AttemptView, JobSummary, TaskRequest, TaskView } from "../../src/master/protocol.ts";
import { type CliResult, cliEnv, killRunningClis, runCli } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";
import { type TreeSpec, writeTree } from "../helpers/tree.ts";
import { DtProcess, START_DEADLINE_MS, killRecordedTasks } from "./processes.ts";

/** dt from source, as `bun src/main.ts`. */
const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");

/** Per e2e test: a job on real processes takes 5-20 s on a loaded 2-core machine; a hang is still reported within the minute. */
export const E2E_TEST_TIMEOUT_MS = 60_000;
/** Short, so that a lost slave is noticed within seconds; the heartbeat (1 s) stays under half of it, as dt master requires. */
const LEASE_TTL = "3s";
const HEARTBEAT_INTERVAL = "1s";
/** Between two polls of the master's API: a test waits at most this past the event, and the master (on the same 2 cores as its slaves) is not kept busy answering. */
const API_POLL_MS = 100;

/**
 * Waits until `condition` holds, asking every API_POLL_MS, and fails with
 * `what` past the deadline: waitUntil's loop, paced for HTTP round trips.
 */
export async function pollUntil(condition: () => boolean | Promise<boolean>, what: string | (() => string), deadlineMs: number): Promise<void> {
  const deadline = performance.now() + deadlineMs;
  while (!(await condition())) {
    // Described when it times out, so the message shows the last state seen.
    if (performance.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${typeof what === "function" ? what() : what}`);
    await Bun.sleep(API_POLL_MS);
  }
}

export interface MasterProcess extends DtProcess {
  url: string;
  port: number;
}

export interface MasterOptions {
  /** Default: a fresh port. A restart passes the port it had. */
  port?: number;
}

export interface Cluster {
  dir: string;
  /** The master's data dir: survives a master restart. */
  dataDir: string;
  /** A HOME and environment for dt client commands, with DIST_TEST_MASTER set once a master runs. */
  env: Record<string, string>;
  /** Where task scripts write pids (`$PID_DIR`); afterEach kills whatever of those still runs. */
  pidDir: string;
  master: MasterProcess | undefined;
  slaves: DtProcess[];
  startMaster(options?: MasterOptions): Promise<MasterProcess>;
  /** `dt slave --slots N --name NAME [args]`, each slave with its own cache; resolves once the master lists it. */
  startSlave(name: string, slots?: number, args?: string[]): Promise<DtProcess>;
  /** Writes `spec` into a fresh directory and archives it into the master's CAS; returns the manifest's digest. */
  archive(spec: TreeSpec, command: string[]): Promise<string>;
  /** `dt args...` as a child process against the master, in the cluster dir. */
  dt(args: string[], deadlineMs?: number): Promise<CliResult>;
  /** `dt args...` as a long-running child whose output can be awaited line by line (e.g. `dt watch`); killed in afterEach. */
  spawn(name: string, args: string[]): DtProcess;
  /** Writes `tasks` to a tasks.json and runs `dt submit --no-wait` on it; returns the job id it printed. */
  submitNoWait(tasks: TaskRequest[]): Promise<string>;
  api: MasterApi;
}

/** The master's native API and raw paths, as JSON; a non-2xx answer throws with its body. */
export interface MasterApi {
  get<T = unknown>(path: string): Promise<T>;
  job(jobId: string): Promise<JobSummary>;
  tasks(jobId: string): Promise<TaskView[]>;
  /** Polls the job until it reads finished; returns its summary. */
  waitFinished(jobId: string, deadlineMs?: number): Promise<JobSummary>;
  /** Polls the job's tasks until `ready` holds; returns them. */
  waitTasks(jobId: string, what: string, ready: (tasks: TaskView[]) => boolean, deadlineMs?: number): Promise<TaskView[]>;
}

export interface ClusterOptions {
  /** Extra `dt master` arguments, made once per cluster (a restart reuses them): e.g. a beanstalkd queue with tubes of its own. */
  masterArgs?: () => string[];
  /** Where `archive` uploads trees, read once per cluster: a separate CAS the master is told of with --isolate-server. Default: the master's own. */
  casUrl?: () => string;
}

export function useCluster(prefix = "dt-e2e-", options: ClusterOptions = {}): () => Promise<Cluster> {
  const temps = new TempDirs();
  const processes: DtProcess[] = [];
  const pidDirs: string[] = [];
  afterEach(async () => {
    killRunningClis();
    for (const p of processes.splice(0)) p.killGroup("SIGKILL");
    for (const dir of pidDirs.splice(0)) killRecordedTasks(dir);
    await temps.cleanup();
  });

  return async () => {
    const dir = await temps.make(prefix);
    const dataDir = join(dir, "master");
    const pidDir = join(dir, "pids");
    mkdirSync(pidDir);
    pidDirs.push(pidDir);
    // Slaves hand their environment down to tasks: PID_DIR reaches every task script.
    const env = cliEnv(join(dir, "home"), { USER: "e2e", PID_DIR: pidDir });
    let trees = 0;
    let submissions = 0;
    const masterArgs = options.masterArgs?.() ?? [];
    const casUrl = options.casUrl?.();

    const spawnDt = (name: string, args: string[], entry = MAIN): DtProcess => {
      // bun spawns a detached child as the leader of a new process group, which afterEach kills whole.
      const proc = Bun.spawn([process.execPath, entry, ...args], { cwd: dir, env, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
      const child = new DtProcess(name, proc);
      processes.push(child);
      return child;
    };

    const api: MasterApi = {
      async get<T>(path: string): Promise<T> {
        if (!cluster.master) throw new Error(`GET ${path}: no master is running`);
        const res = await fetch(`${cluster.master.url}${path}`);
        const text = await res.text();
        if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${text}`);
        return JSON.parse(text) as T;
      },
      job: (jobId) => api.get<JobSummary>(`/api/v1/jobs/${encodeURIComponent(jobId)}`),
      tasks: async (jobId) => (await api.get<{ tasks: TaskView[] }>(`/api/v1/jobs/${encodeURIComponent(jobId)}/tasks`)).tasks,
      async waitFinished(jobId, deadlineMs = 40_000) {
        let summary: JobSummary | undefined;
        await pollUntil(async () => (summary = await api.job(jobId).catch(() => undefined))?.status === "finished", `job ${jobId} to finish`, deadlineMs);
        return summary!;
      },
      async waitTasks(jobId, what, ready, deadlineMs = 30_000) {
        let tasks: TaskView[] = [];
        await pollUntil(
          async () => {
            tasks = (await api.tasks(jobId).catch(() => undefined)) ?? [];
            return tasks.length > 0 && ready(tasks);
          },
          () => `${what} (job ${jobId}; last seen: ${describeTasks(tasks)})`,
          deadlineMs,
        );
        return tasks;
      },
    };

    const cluster: Cluster = {
      dir,
      dataDir,
      env,
      pidDir,
      master: undefined,
      slaves: [],
      api,
      async startMaster(options = {}) {
        const args = ["master", "--port", String(options.port ?? 0), "--host", "127.0.0.1", "--data-dir", dataDir, "--db", `sqlite:${join(dataDir, "dt.sqlite")}`];
        args.push("--lease-ttl", LEASE_TTL, "--heartbeat-interval", HEARTBEAT_INTERVAL, ...masterArgs);
        const child = spawnDt("master", args, MAIN);
        const match = await child.waitForOutput(/master listening on (http:\/\/127\.0\.0\.1:(\d+))/, "its listening line");
        const master = Object.assign(child, { url: match[1]!, port: Number(match[2]) });
        cluster.master = master;
        env.DIST_TEST_MASTER = master.url;
        return master;
      },
      async startSlave(name, slots = 2, args = []) {
        if (!cluster.master) throw new Error("start a master before its slaves");
        const cacheDir = join(dir, "slaves", name, "cache");
        const child = spawnDt(name, ["slave", "--master", cluster.master.url, "--slots", String(slots), "--cache-dir", cacheDir, "--name", name, ...args]);
        cluster.slaves.push(child);
        // The master lists a slave once it asked for work: from then on a submitted task reaches it within milliseconds.
        await pollUntil(
          async () => {
            if (!child.running) throw new Error(`slave ${name} exited early; its output:\n${child.output}`);
            const { slaves } = await api.get<{ slaves: { name: string; state: string }[] }>("/api/v1/slaves");
            return slaves.some((s) => s.name === name && s.state !== "lost");
          },
          `slave ${name} to register with the master`,
          START_DEADLINE_MS,
        );
        return child;
      },
      async archive(spec, command) {
        if (!cluster.master) throw new Error("start a master before archiving: its CAS takes the tree");
        const root = join(dir, "trees", `tree-${++trees}`);
        await writeTree(root, spec);
        const { results } = await archiveTargets([targetFromPaths({ root, paths: ["."], command })], {
          cas: new CasClient(casUrl ?? cluster.master.url),
          log: createLogger({ level: "silent" }),
        });
        return results[0]!.digest.hash;
      },
      dt: (args, deadlineMs = 45_000) => runCli(args, { cwd: dir, env, deadlineMs }),
      spawn: (name, args) => spawnDt(name, args),
      async submitNoWait(tasks) {
        const file = join(dir, `tasks-${++submissions}.json`);
        writeFileSync(file, JSON.stringify({ tasks }));
        const r = await cluster.dt(["submit", "--no-wait", file]);
        if (r.exitCode !== 0) throw new Error(`dt submit --no-wait exited ${r.exitCode ?? r.signal}: ${r.stderr}`);
        return r.stdout.trim();
      },
    };
    return cluster;
  };
}

/** `description: group [attempt states]` per task, for a failure message that shows where a job was stuck. */
export function describeTasks(tasks: readonly TaskView[]): string {
  return tasks.map((t) => `${t.description}: ${t.group} [${t.attempts.map((a) => `${a.state}@${a.slave ?? "-"}`).join(", ")}]`).join("; ") || "no tasks";
}

/** The task with this description; fails naming the ones there are. */
export function taskNamed(tasks: readonly TaskView[], description: string): TaskView {
  const task = tasks.find((t) => t.description === description);
  if (!task) throw new Error(`no task ${description}; there are ${tasks.map((t) => t.description).join(", ")}`);
  return task;
}

/** An attempt's phase times in the order they must happen; null where a phase has no time. */
export function phaseTimes(a: AttemptView): (number | null)[] {
  return [a.queued_at, a.leased_at, a.fetch_done_at, a.map_done_at, a.command_start_at, a.command_end_at, a.upload_done_at, a.reported_at];
}


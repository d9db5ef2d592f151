/**
 * A real `dt master` and `dt slave` (child processes, from source) that have
 * run one small job: a task that passes and one that fails, each printing a
 * few coloured lines. What the browser tests open, and what
 * `bun run screenshots` photographs. Free of bun:test, so a script can use it.
 *
 * @example
 *   const sample = await startSampleJob();
 *   try { await fetch(sample.pages.job); } finally { await sample.close(); }
 */
import { join } from "node:path";
import { createLogger } from "../../src/common/log.ts";
import { archiveTargets, targetFromPaths } from "../../src/isolate/archive/archive.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import type { JobSummary, TaskView } from "../../src/master/protocol.ts";
import { DtProcess, START_DEADLINE_MS } from "../e2e/processes.ts";
import { cliEnv } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";
import { shellScript, writeTree } from "../helpers/tree.ts";

const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");
/** The two tasks take well under a second each; the rest is two bun start-ups and the slave's first lease. */
const JOB_DEADLINE_MS = 30_000;
/** Between two looks at the job: the master shares the machine with the slave running the tasks. */
const API_POLL_MS = 100;
export const SLAVE_NAME = "browser-slave";
export const PASS_TASK = "colours pass";
export const FAIL_TASK = "colours fail";

/** Lines with ANSI colours, as test runners print them: what the log viewer shows. */
const colouredLines = (task: string) => `printf "\\033[32m[ RUN      ]\\033[0m Sample.Case\\n"; for i in 1 2 3 4 5; do echo "line $i of ${task}"; done`;

export interface SampleJob {
  /** The master's base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  jobId: string;
  tasks: TaskView[];
  /** The page URLs a reviewer looks at, by name. */
  pages: Record<"index" | "job" | "log" | "trace" | "binary" | "slaves", string>;
  /** Kills the master and the slave (their process groups) and removes the temp dir. */
  close: () => Promise<void>;
}

export async function startSampleJob(): Promise<SampleJob> {
  const temps = new TempDirs();
  const processes: DtProcess[] = [];
  const close = async () => {
    for (const p of processes) p.killGroup("SIGKILL");
    await Promise.all(processes.map((p) => p.exited.catch(() => 0)));
    await temps.cleanup();
  };
  try {
    const dir = await temps.make("dt-browser-");
    const env = cliEnv(join(dir, "home"), { USER: "reviewer" });
    const spawnDt = (name: string, args: string[]) => {
      // detached: the child leads a new process group, which close() kills whole (the slave's tasks included).
      const child = new DtProcess(name, Bun.spawn([process.execPath, MAIN, ...args], { cwd: dir, env, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true }));
      processes.push(child);
      return child;
    };

    const master = spawnDt("master", ["master", "--port", "0", "--host", "127.0.0.1", "--data-dir", join(dir, "master")]);
    const url = (await master.waitForOutput(/master listening on (http:\/\/127\.0\.0\.1:\d+)/, "its listening line"))[1]!;
    const getJson = async <T>(path: string): Promise<T> => {
      const res = await fetch(`${url}${path}`);
      if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };

    const root = join(dir, "tree");
    await writeTree(root, {
      "pass.sh": shellScript(`${colouredLines(PASS_TASK)}\nprintf "\\033[32m[       OK ]\\033[0m Sample.Case\\n"`),
      "fail.sh": shellScript(`${colouredLines(FAIL_TASK)}\nprintf "\\033[31m[  FAILED  ]\\033[0m Sample.Case\\n" >&2\nexit 1`),
    });
    const cas = new CasClient(url);
    const log = createLogger({ level: "silent" });
    const [pass, fail] = await Promise.all(
      ["./pass.sh", "./fail.sh"].map(async (script) => (await archiveTargets([targetFromPaths({ root, paths: ["."], command: [script] })], { cas, log })).results[0]!.digest.hash),
    );

    const res = await fetch(`${url}/api/v1/jobs`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: "browser", user: "reviewer", tasks: [{ isolate_hash: pass, description: PASS_TASK }, { isolate_hash: fail, description: FAIL_TASK }] }),
    });
    if (res.status !== 201) throw new Error(`POST /api/v1/jobs: ${res.status} ${await res.text()}`);
    const { job_id: jobId } = (await res.json()) as { job_id: string };

    spawnDt(SLAVE_NAME, ["slave", "--master", url, "--slots", "2", "--cache-dir", join(dir, "slave-cache"), "--name", SLAVE_NAME]);
    const deadline = performance.now() + JOB_DEADLINE_MS + START_DEADLINE_MS;
    while ((await getJson<JobSummary>(`/api/v1/jobs/${encodeURIComponent(jobId)}`)).status !== "finished") {
      if (performance.now() > deadline) throw new Error(`job ${jobId} did not finish within ${JOB_DEADLINE_MS + START_DEADLINE_MS} ms`);
      await Bun.sleep(API_POLL_MS);
    }
    const { tasks } = await getJson<{ tasks: TaskView[] }>(`/api/v1/jobs/${encodeURIComponent(jobId)}/tasks`);
    const failed = tasks.find((t) => t.description === FAIL_TASK);
    if (!failed) throw new Error(`job ${jobId} has no task ${FAIL_TASK}: ${tasks.map((t) => t.description).join(", ")}`);

    const query = (params: Record<string, string | number>) => new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString();
    return {
      url, jobId, tasks, close,
      pages: {
        index: `${url}/`,
        job: `${url}/job?${query({ job_id: jobId })}`,
        log: `${url}/view_log?${query({ job_id: jobId, task_id: failed.task_id, attempt: 0, log: "stdout" })}`,
        trace: `${url}/trace?${query({ job_id: jobId })}`,
        binary: `${url}/tests/binary_history?${query({ binary: FAIL_TASK })}`,
        slaves: `${url}/slaves`,
      },
    };
  } catch (error) {
    const output = processes.map((p) => `--- ${p.name}:\n${p.output}`).join("\n");
    await close();
    throw new Error(`the sample job did not come up: ${(error as Error).message}\n${output}`, { cause: error });
  }
}

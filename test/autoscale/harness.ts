/**
 * What the autoscaler's integration tests share: a real master on a free
 * port (serveTestMaster), trees archived into its CAS, jobs submitted
 * through its API, and `dt autoscale` built in process from its flags, as
 * the command builds it, with its log collected.
 */
import { afterEach } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "citty";
import type { Autoscaler } from "../../src/autoscale/autoscaler.ts";
import { LocalProvider } from "../../src/autoscale/local-provider.ts";
import type { AuthPolicy } from "../../src/common/auth/policy.ts";
import type { SlaveProvider } from "../../src/autoscale/provider.ts";
import { type Clock, systemClock } from "../../src/common/clock.ts";
import { Config } from "../../src/common/config.ts";
import { createLogger } from "../../src/common/log.ts";
import { archiveTargets, targetFromPaths } from "../../src/isolate/archive/archive.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import type { AutoscaleDecision, JobCreated, SlaveView, TaskRequest, TaskView } from "../../src/master/protocol.ts";
import { autoscaleArgs, autoscaleSettings, makeAutoscaler, type AutoscaleSettings } from "../../src/commands/autoscale.ts";
import type { CommandContext } from "../../src/commands/context.ts";
import { cliEnv } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";
import { type TreeSpec, writeTree } from "../helpers/tree.ts";
import { serveTestMaster } from "../master/helpers.ts";

/** src/main.ts: local slaves run dt from source, as `bun src/main.ts slave …`. */
export const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");

/** A log that keeps its lines, for assertions and for a failure's message. */
export function collectingLog(level = "info") {
  const lines: string[] = [];
  const stream = { write: (s: string) => (lines.push(s), true) } as unknown as NodeJS.WritableStream;
  return { log: createLogger({ level, stream }), lines, text: () => lines.join("") };
}

export interface TestBed {
  dir: string;
  url: string;
  env: Record<string, string>;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  archive(spec: TreeSpec, command: string[]): Promise<string>;
  submit(tasks: TaskRequest[]): Promise<string>;
  tasks(jobId: string): Promise<TaskView[]>;
  slaves(): Promise<SlaveView[]>;
  decisions(): Promise<AutoscaleDecision[]>;
  /** Runs in afterEach, before the master stops. */
  onCleanup(cleanup: () => Promise<void>): void;
  /** `dt autoscale FLAGS` built in process (on `clock`, with `env` added to the bed's), local slaves running src/main.ts. */
  autoscaler(flags: string[], clock?: Clock, env?: Record<string, string>): { scaler: Autoscaler; settings: AutoscaleSettings; provider: SlaveProvider; log: ReturnType<typeof collectingLog> };
}

/**
 * A master per test, stopped with every autoscaler's slaves and the temp
 * dirs in afterEach, even when the test failed half-way.
 */
export function useTestBed(): (options?: { auth?: AuthPolicy }) => Promise<TestBed> {
  const temps = new TempDirs();
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
    await temps.cleanup();
  });
  return async (options = {}) => {
    const dir = await temps.make("dt-autoscale-");
    const server = await serveTestMaster(join(dir, "master"), options.auth);
    cleanups.push(() => server.stop(0));
    const env = cliEnv(join(dir, "home"), { USER: "autoscale-test" });
    mkdirSync(env.HOME!, { recursive: true });
    const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${server.url}${path}`, { method, headers: body === undefined ? {} : { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return (res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text) as T;
    };
    let trees = 0;
    const bed: TestBed = {
      dir,
      url: server.url,
      env,
      get: (path) => call("GET", path),
      post: (path, body) => call("POST", path, body),
      async archive(spec, command) {
        const root = join(dir, "trees", `tree-${++trees}`);
        await writeTree(root, spec);
        const { results } = await archiveTargets([targetFromPaths({ root, paths: ["."], command })], { cas: new CasClient(server.url), log: createLogger({ level: "silent" }) });
        return results[0]!.digest.hash;
      },
      submit: async (tasks) => (await call<JobCreated>("POST", "/api/v1/jobs", { tasks })).job_id,
      tasks: async (jobId) => (await call<{ tasks: TaskView[] }>("GET", `/api/v1/jobs/${encodeURIComponent(jobId)}/tasks`)).tasks,
      slaves: async () => (await call<{ slaves: SlaveView[] }>("GET", "/api/v1/slaves")).slaves,
      decisions: async () => (await call<{ decisions: AutoscaleDecision[] }>("GET", "/api/v1/autoscaler/decisions")).decisions,
      onCleanup: (cleanup) => cleanups.push(cleanup),
      autoscaler(flags, clock = systemClock, extraEnv = {}) {
        const log = collectingLog();
        const scalerEnv = { ...env, ...extraEnv };
        const ctx: CommandContext = { config: Config.load(scalerEnv), log: log.log, clock, env: scalerEnv };
        const settings = autoscaleSettings(parseArgs(["--master", server.url, "--log-dir", join(dir, "slave-logs"), "--cache-dir", join(dir, "cache"), ...flags], autoscaleArgs), ctx);
        const scaler = makeAutoscaler(settings, ctx, { dtCommand: [process.execPath, MAIN] });
        const provider = scaler.provider;
        // Whatever the test did, the slaves it started go: SIGTERM (drain), then SIGKILL for the stuck.
        cleanups.push(async () => {
          const done = provider.close();
          const late = setTimeout(() => killAll(provider), 5_000);
          await done;
          clearTimeout(late);
        });
        return { scaler, settings, provider, log };
      },
    };
    return bed;
  };
}

function killAll(provider: SlaveProvider): void {
  if (!(provider instanceof LocalProvider)) return;
  for (const pid of provider.pids().values()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  }
}

/** A script tree whose one task sleeps `$1` seconds… as a shell script named `sleep.sh`. */
export const SLEEP_TREE: TreeSpec = { "sleep.sh": { content: '#!/bin/sh\nsleep "$1"\n', mode: 0o755 } };

/** dt from source, as `dt autoscale` and the local slaves it starts run. */
export const DT_WITH_AUTOSCALE = [process.execPath, join(import.meta.dir, "../../src/main.ts")];

/** `dt autoscale ARGS` as a child process, within a deadline. */
export async function runAutoscaleCli(args: readonly string[], env: Record<string, string>, deadlineMs = 15_000): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  const child = Bun.spawn([...DT_WITH_AUTOSCALE, "autoscale", ...args], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill("SIGKILL"), deadlineMs);
  try {
    const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    if (child.signalCode === "SIGKILL") throw new Error(`dt autoscale ${args.join(" ")} ran past ${deadlineMs} ms\nstderr: ${stderr}`);
    return { exitCode, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

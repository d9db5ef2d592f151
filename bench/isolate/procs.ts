/**
 * Child processes for the benchmark: timed runs with a deadline, and the
 * isolate server. Every child gets its own process group (`detached`), so a
 * shell pipeline is killed whole, and is tracked until it exits, so
 * `killAll` can end whatever is left when the bench fails or is interrupted.
 */
import type { Subprocess } from "bun";
import { copyFileSync } from "node:fs";
import { join } from "node:path";

const live = new Set<Subprocess>();

export interface Timed {
  ms: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  /** The child's whole environment (default: the bench's own). */
  env?: Record<string, string>;
  /** Killed (whole process group) after this long; the run then throws. */
  timeoutMs: number;
}

function killGroup(child: Subprocess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Runs `argv` to completion and returns its wall time (spawn to exit) with
 * its output; throws, quoting the command and its stderr, on a non-zero exit
 * or a timeout.
 */
export async function timedRun(argv: string[], options: RunOptions): Promise<Timed> {
  const started = performance.now();
  const child = Bun.spawn(argv, { cwd: options.cwd, env: options.env, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
  live.add(child);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child, "SIGKILL");
  }, options.timeoutMs);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    const ms = performance.now() - started;
    if (timedOut) throw new Error(`${argv.join(" ")}: killed after ${options.timeoutMs / 1000} s\n${stderr.slice(-2000)}`);
    if (code !== 0) throw new Error(`${argv.join(" ")}: exit ${code}\n${stderr.slice(-2000)}`);
    return { ms, stdout, stderr };
  } finally {
    clearTimeout(timer);
    live.delete(child);
  }
}

/** A shell pipeline, timed as a whole. */
export function timedShell(script: string, options: RunOptions): Promise<Timed> {
  return timedRun(["sh", "-c", `set -e; ${script}`], options);
}

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

/** How long the server may take to print its address: it scans an empty data dir, so seconds mean trouble. */
const SERVER_START_TIMEOUT_MS = 30_000;
/** SIGTERM to SIGKILL: the server only closes its listener and store. */
const SERVER_STOP_GRACE_MS = 10_000;

/** Starts `dt isolate-server` on a free loopback port with `dataDir`; resolves once it prints its URL. */
export async function startIsolateServer(dt: string, dataDir: string): Promise<RunningServer> {
  const child = Bun.spawn([dt, "isolate-server", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir, "--log-level", "info"], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
    detached: true,
  });
  live.add(child);
  let log = "";
  const reader = child.stderr.getReader();
  const decoder = new TextDecoder();
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`isolate server did not report its address within ${SERVER_START_TIMEOUT_MS / 1000} s:\n${log}`)), SERVER_START_TIMEOUT_MS);
    // Keeps draining after the address line so a chatty server never blocks on a full pipe.
    (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        log = (log + decoder.decode(value)).slice(-8192);
        const m = /isolate server listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      }
      clearTimeout(timer);
      reject(new Error(`isolate server exited (code ${await child.exited}) before listening:\n${log}`));
    })().catch(reject);
  }).catch(async (err) => {
    killGroup(child, "SIGKILL");
    await child.exited;
    live.delete(child);
    throw err;
  });
  return {
    url,
    async stop() {
      killGroup(child, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), SERVER_STOP_GRACE_MS);
      await child.exited;
      clearTimeout(timer);
      live.delete(child);
    },
  };
}

/** Kills every child still running (bench failure or Ctrl-C) and waits for them. */
export async function killAll(): Promise<void> {
  const children = [...live];
  for (const child of children) killGroup(child, "SIGKILL");
  await Promise.all(children.map((c) => c.exited));
  live.clear();
}

/**
 * Runs a benchmark's main: cleans up on SIGINT/SIGTERM and at the end,
 * prints a crash's stack, and exits with main's code (1 if it threw, 130
 * after a signal). The clean-up runs once: a signal and the end of main
 * both wait for the same one, so neither exits while it is half done.
 */
export async function runBench(main: () => Promise<number>, cleanUp: () => Promise<void>, stopping: string): Promise<never> {
  let cleaning: Promise<void> | undefined;
  const cleanUpOnce = () => (cleaning ??= cleanUp());
  let signalled = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, async () => {
      signalled = true;
      console.error(`bench: ${signal}: ${stopping}`);
      await cleanUpOnce();
      process.exit(130);
    });
  }
  let exitCode = 1;
  try {
    exitCode = await main();
  } catch (err) {
    console.error(`bench: ${(err as Error).stack ?? err}`);
  } finally {
    await cleanUpOnce();
  }
  process.exit(signalled ? 130 : exitCode);
}

/**
 * A private copy of the dt binary in `scratch`, and its version line: a
 * rebuild of dist/dt during the run must not mix two versions in one table.
 */
export async function privateBinary(dtPath: string, scratch: string): Promise<{ dt: string; version: string }> {
  const dt = join(scratch, "dt");
  copyFileSync(dtPath, dt);
  const version = (await timedRun([dt, "--version"], { timeoutMs: 10_000 })).stdout.trim();
  return { dt, version };
}

import { join } from "node:path";

/** src/main.ts, run from source as `bun src/main.ts`. */
const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");

/** Per CLI run: well above the ~0.3 s a run takes, below CLI_TEST_TIMEOUT_MS so a hang is reported as such. */
const DEFAULT_DEADLINE_MS = 15_000;

/**
 * Per-test timeout for tests that run dt: bun test's default of 5 s is too
 * short for the ones that wait out the CAS client's ~4 s of retries on a
 * loaded 2-core machine.
 */
export const CLI_TEST_TIMEOUT_MS = 20_000;

export interface CliResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  /** The child's whole environment; see `cliEnv`. */
  env: Record<string, string>;
  deadlineMs?: number;
}

const running = new Set<number>();

/**
 * Runs `dt args...` as a child process in its own process group, collecting
 * stdout and stderr. Past the deadline the group is SIGKILLed and the call
 * throws, so a hang fails the test instead of stalling the suite.
 */
export async function runCli(args: readonly string[], options: CliOptions): Promise<CliResult> {
  const child = Bun.spawn([process.execPath, MAIN, ...args], {
    cwd: options.cwd,
    env: options.env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
  });
  running.add(child.pid);
  let overDeadline = false;
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const timer = setTimeout(() => {
    overDeadline = true;
    killGroup(child.pid);
  }, deadlineMs);
  try {
    const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    if (overDeadline) throw new Error(`dt ${args.join(" ")} ran past its ${deadlineMs} ms deadline and was killed\nstdout: ${stdout}\nstderr: ${stderr}`);
    const signal = child.signalCode == null ? null : String(child.signalCode);
    return { exitCode: signal ? null : exitCode, signal, stdout, stderr };
  } finally {
    clearTimeout(timer);
    running.delete(child.pid);
  }
}

/** Kills every dt child still running (a test that threw half-way); for afterEach. */
export function killRunningClis(): void {
  for (const pid of running) killGroup(pid);
  running.clear();
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * An environment that keeps dt away from the user's own settings and caches:
 * HOME and the XDG dirs point into `home`, and no ISOLATE_SERVER, DT_* or
 * DIST_TEST_* variable leaks in from the shell running the tests.
 */
export function cliEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    XDG_CACHE_HOME: join(home, ".cache"),
    XDG_DATA_HOME: join(home, ".local", "share"),
    ...extra,
  };
}

/** The objects printed by `--log-format json`, one per stderr line; other lines are skipped. */
export function jsonLogLines(stderr: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of stderr.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      lines.push(JSON.parse(line));
    } catch {
      // A command's own output interleaved with the log; not ours to parse.
    }
  }
  return lines;
}

import { createWriteStream, type WriteStream } from "node:fs";
import { constants } from "node:os";

/** How long output may keep flowing after the command and its group are gone. */
const PIPE_DRAIN_MS = 5_000;

export interface ExecuteOptions {
  command: string[];
  cwd: string;
  env: Record<string, string>;
  /** Seconds; 0 means no timeout. */
  timeoutSec: number;
  /** Seconds between SIGTERM and SIGKILL on timeout or cancel. */
  gracePeriodSec: number;
  stdoutPath: string;
  stderrPath: string;
  /** Where output is echoed as it comes (the terminal); omitted for none. */
  echoStdout?: NodeJS.WritableStream;
  echoStderr?: NodeJS.WritableStream;
  /** Aborting kills the process group as a timeout does (cancel, Ctrl-C). */
  signal?: AbortSignal;
  /** Aborting SIGKILLs the process group at once (a second Ctrl-C). */
  kill?: AbortSignal;
  /**
   * Told the command's pid (its process group's id) right after the spawn,
   * so a slave can write it down for a restart after a crash. Must not throw.
   */
  onSpawn?: (pid: number) => void;
}

export interface ExecuteResult {
  /** The command's exit code; null when a signal ended it. */
  exitCode: number | null;
  /** The signal that ended it, e.g. "SIGKILL". */
  signal: string | null;
  timedOut: boolean;
  canceled: boolean;
  durationMs: number;
  /** Set when a log file could not be written (disk full): the output kept flowing to the echo only. */
  logError: string | null;
}

/**
 * Runs a command in its own process group (setsid), streaming stdout and
 * stderr to files and to the echo streams chunk by chunk, never holding
 * them whole. On timeout or abort the whole group gets SIGTERM, then SIGKILL
 * after the grace period; once the command exits, whatever it left running
 * in its group is killed too, so no grandchild outlives the task and holds
 * its files or pipes. (A grandchild that calls setsid itself leaves the
 * group; containing those needs cgroups.)
 *
 * A command that cannot be started (absent, not executable) throws the
 * spawn error; the caller decides what that means.
 */
export async function execute(options: ExecuteOptions): Promise<ExecuteResult> {
  const started = performance.now();
  const child = Bun.spawn(options.command, {
    cwd: options.cwd,
    env: options.env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
  });
  const pgid = child.pid;
  options.onSpawn?.(pgid);
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pgid, sig);
    } catch {
      // The group is already gone.
    }
  };

  let timedOut = false;
  let canceled = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const terminate = () => {
    signalGroup("SIGTERM");
    killTimer ??= setTimeout(() => signalGroup("SIGKILL"), options.gracePeriodSec * 1000);
  };
  const timeoutTimer =
    options.timeoutSec > 0
      ? setTimeout(() => {
          timedOut = true;
          terminate();
        }, options.timeoutSec * 1000)
      : undefined;
  const onAbort = () => {
    canceled = true;
    terminate();
  };
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort);
  const onKill = () => {
    canceled = true;
    signalGroup("SIGKILL");
  };
  if (options.kill?.aborted) onKill();
  options.kill?.addEventListener("abort", onKill);

  const outputs = [
    pump(child.stdout, options.stdoutPath, options.echoStdout),
    pump(child.stderr, options.stderrPath, options.echoStderr),
  ];
  const pumps = Promise.all(outputs.map((o) => o.done));
  const exitCode = await child.exited;
  clearTimeout(timeoutTimer);
  clearTimeout(killTimer);
  options.signal?.removeEventListener("abort", onAbort);
  options.kill?.removeEventListener("abort", onKill);
  // Leftovers in the group would keep the pipes open and the pumps waiting.
  signalGroup("SIGKILL");
  // A process that left the group (setsid) may still hold the pipes: give up on them after a bound.
  let drainTimer: ReturnType<typeof setTimeout> | undefined;
  const drained = await Promise.race([
    pumps.then(() => true),
    new Promise<boolean>((resolve) => {
      drainTimer = setTimeout(() => resolve(false), PIPE_DRAIN_MS);
    }),
  ]);
  clearTimeout(drainTimer);
  if (!drained) {
    // Through the pumps' readers: the streams themselves are locked, and cancelling them is refused.
    await Promise.all(outputs.map((o) => o.cancel()));
    await pumps;
  }
  const signal = child.signalCode == null ? null : String(child.signalCode);
  const logErrors = (await Promise.all(outputs.map((o) => o.done))).filter((e): e is string => e !== null);
  return {
    exitCode: signal ? null : exitCode,
    signal,
    timedOut,
    canceled,
    durationMs: performance.now() - started,
    logError: logErrors[0] ?? null,
  };
}

/**
 * Copies `stream` to the file and the echo; `done` settles at its end (or
 * soon after `cancel()`) with the file's write error, if any. A file that
 * fails (disk full) is given up on, but the pipe is still drained, so the
 * command never blocks on a full pipe.
 */
function pump(stream: ReadableStream<Uint8Array>, path: string, echo: NodeJS.WritableStream | undefined): { done: Promise<string | null>; cancel: () => Promise<void> } {
  const reader = stream.getReader();
  const done = (async () => {
    const file: WriteStream = createWriteStream(path);
    let fileError: Error | null = null;
    file.on("error", (err) => (fileError ??= err));
    // Resolves on drain, or on an error after which no drain comes.
    const writable = () =>
      new Promise<void>((resolve) => {
        const settle = () => {
          file.off("drain", settle);
          file.off("error", settle);
          resolve();
        };
        file.once("drain", settle);
        file.once("error", settle);
      });
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      // Respect the file's backpressure so a chatty test cannot fill memory.
      if (!fileError && !file.write(r.value)) await writable();
      echo?.write(r.value);
    }
    if (!fileError) await new Promise<void>((resolve) => file.end(() => resolve()));
    file.destroy();
    const failed = fileError as Error | null;
    return failed ? `cannot write ${path}: ${failed.message}` : null;
  })();
  return { done, cancel: () => reader.cancel().catch(() => {}) };
}

/** Shell convention for a process ended by a signal: 128 + its number. */
export function exitCodeForSignal(signal: string): number {
  const number = (constants.signals as Record<string, number>)[signal];
  return 128 + (number ?? 0);
}

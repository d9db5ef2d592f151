import { sleep } from "../common/sleep.ts";
import { availableParallelism } from "node:os";
import { type Clock, systemClock } from "../common/clock.ts";

/** How often a failed request to the master is tried, and how long apart. */
export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  delayMs: number;
}

/**
 * dist_test's client tried every request 10 times, 5 s apart: long enough to
 * ride out a master restart, short enough that CI notices a dead master.
 */
export const DIST_TEST_RETRY: RetryPolicy = { attempts: 10, delayMs: 5_000 };

/**
 * Everything the client commands take from the process they run in, so that
 * tests can run them in process on virtual time with captured output.
 *
 * @example
 *   await runCommand(watch, { rawArgs: ["job1"], data: testIo });
 */
export interface ClientIo {
  /** The commands' answers: progress lines, summaries, tables, JSON. */
  stdout: NodeJS.WritableStream;
  /** Log lines. */
  stderr: NodeJS.WritableStream;
  /** True when stdout is a terminal: progress is one line rewritten in place, in color. */
  isTTY: boolean;
  /** Color on a TTY unless NO_COLOR is set. */
  color: boolean;
  clock: Clock;
  /** Waits `ms` or until `signal` aborts (then resolves early, without throwing). */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  env: Record<string, string | undefined>;
  fetch: typeof fetch;
  retry: RetryPolicy;
  /** Used in job ids, as dist_test used os.getpid(). */
  pid: number;
  /** Downloads in flight at once. */
  downloadConcurrency: number;
  /** Aborted when the user asks to stop (Ctrl-C); commands install the handler when absent. */
  interrupt?: AbortSignal;
  /** Where a command leaves its exit code. */
  setExitCode: (code: number) => void;
}

export { sleep as abortableSleep } from "../common/sleep.ts";

/** The io of a real `dt` process. */
export function processIo(): ClientIo {
  const isTTY = process.stdout.isTTY === true;
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    isTTY,
    color: isTTY && !process.env.NO_COLOR,
    clock: systemClock,
    sleep,
    env: process.env,
    fetch,
    retry: DIST_TEST_RETRY,
    pid: process.pid,
    // dist_test's client: a thread pool of 1.5 × CPUs; downloads wait on the network, not the CPU.
    downloadConcurrency: Math.max(2, Math.ceil(availableParallelism() * 1.5)),
    setExitCode: (code) => {
      process.exitCode = code;
    },
  };
}

/** The io passed as citty's `data` by a test, or the process's own. */
export function ioFrom(data: unknown): ClientIo {
  return (data as { io?: ClientIo } | undefined)?.io ?? processIo();
}

/**
 * Runs `fn` with a signal that aborts on Ctrl-C (SIGINT) or SIGTERM, or
 * when the injected `io.interrupt` does; the handlers are removed after.
 */
export async function withInterrupt<T>(io: ClientIo, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  if (io.interrupt) return fn(io.interrupt);
  const controller = new AbortController();
  const remove = () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
  // Once only: a second Ctrl-C finds no handler and ends the process at once,
  // for when the first waits on a master that does not answer.
  const onSignal = () => {
    remove();
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await fn(controller.signal);
  } finally {
    remove();
  }
}

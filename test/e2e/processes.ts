/**
 * The processes of an e2e test: dt children in their own process groups,
 * with their output collected, and the task commands that record their pids
 * so that a test can watch them die, and afterEach can kill the orphans.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { processAlive, waitUntil } from "../helpers/wait.ts";

/** What the master, a slave or a client takes to start: bun's start-up plus a migration, well under this on a loaded machine. */
export const START_DEADLINE_MS = 15_000;

/** One dt child process; its stdout and stderr are collected as they come, so a pipe never fills. */
export class DtProcess {
  output = "";
  readonly exited: Promise<number>;

  constructor(
    readonly name: string,
    readonly proc: Subprocess<"ignore", "pipe", "pipe">,
  ) {
    this.exited = Promise.all([this.pump(proc.stdout), this.pump(proc.stderr)]).then(() => proc.exited);
  }

  get pid(): number {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The first match of `pattern` in the output; fails if the process exits or the deadline passes first. */
  async waitForOutput(pattern: RegExp, what: string, deadlineMs = START_DEADLINE_MS): Promise<RegExpMatchArray> {
    let match: RegExpMatchArray | null = null;
    await waitUntil(
      () => {
        match = this.output.match(pattern);
        if (!match && !this.running) throw new Error(`${this.name} exited (${this.proc.exitCode ?? this.proc.signalCode}) before ${what}; its output:\n${this.output}`);
        return match !== null;
      },
      `${this.name}: ${what}`,
      deadlineMs,
    );
    return match!;
  }

  /** The exit code once the process ended (its output read to the end); fails past the deadline. */
  async waitExit(deadlineMs: number): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} still ran after ${deadlineMs} ms; its output:\n${this.output}`)), deadlineMs);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Signals the whole process group (dt and whatever it started in it). */
  killGroup(signal: NodeJS.Signals = "SIGKILL"): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // Already gone.
    }
  }

  private async pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) this.output += decoder.decode(chunk, { stream: true });
  }
}

/** Task scripts start with this: records the shell's pid (after `exec`, the command's) as <task>.<attempt>.pid in $PID_DIR. */
export const RECORD_PID = 'echo $$ > "$PID_DIR/$DT_TASK_ID.$DT_ATTEMPT.pid"';

/** The pid a task recorded with RECORD_PID, once it has. */
export async function recordedPid(pidDir: string, taskId: string, attempt: number, deadlineMs = 20_000): Promise<number> {
  const file = join(pidDir, `${taskId}.${attempt}.pid`);
  let pid = 0;
  await waitUntil(
    () => {
      pid = Number(readFileOr(file).trim());
      return Number.isInteger(pid) && pid > 0;
    },
    `task ${taskId} attempt ${attempt} to write its pid`,
    deadlineMs,
  );
  return pid;
}

/** Kills the recorded task processes that still run: a task of a SIGKILLed slave is orphaned, not killed. */
export function killRecordedTasks(pidDir: string): void {
  let files: string[] = [];
  try {
    files = readdirSync(pidDir);
  } catch {
    return;
  }
  for (const file of files.filter((f) => f.endsWith(".pid"))) {
    const pid = Number(readFileOr(join(pidDir, file)).trim());
    // Only a live process that is still one of our tasks: a pid may have been reused since.
    if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid) || !readFileOr(`/proc/${pid}/environ`).includes("DT_TASK_ID=")) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  }
}

function readFileOr(path: string, fallback = ""): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

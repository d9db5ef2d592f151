import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import type { Logger } from "../common/log.ts";
import type { MasterClient } from "../client/api.ts";
import { attemptPrefix } from "../client/fetch.ts";
import { type CaseAttempt, type LinkPolicy, linksOf } from "../client/links.ts";
import type { AttemptView, TaskView } from "../master/protocol.ts";

/** Where `dt local` keeps what its report points at when no --data-dir is given: one folder per job, under the working directory. */
export const LOCAL_RESULTS_DIR = "dt-local-results";

/**
 * How much `dt local` copies out of its master. A task's log has no size
 * limit: a test stuck printing in a loop writes gigabytes, and the copy
 * lands in the working directory (often the user's checkout) beside the
 * master's own copy. Past these, the data dir (--data-dir) has the whole.
 */
export interface KeptLimits {
  /** Per file: a longer log is cut here with a line saying so; a bigger archive is not copied (half a zip is no use). */
  fileBytes: number;
  /** Over the whole run: once copied, nothing more is. */
  totalBytes: number;
}

/** 64 MiB of one log is more than anyone reads; 1 GiB in all keeps a run of many failures from filling a disk. */
export const DEFAULT_KEPT_LIMITS: KeptLimits = { fileBytes: 64 * 2 ** 20, totalBytes: 2 ** 30 };

/**
 * The links of `dt local`'s report: its master stops when the job ends, so
 * every log and archive the report names is copied here first (named as
 * `dt fetch` names them) and the report points at the copies. Nothing is
 * written until an attempt fails: a job that passed leaves no folder.
 */
export class KeptLogs implements LinkPolicy {
  /** Master link → the file it was copied to. */
  private readonly kept = new Map<string, string>();
  /** Master link → why it was not copied, for the report's line. */
  private readonly notKept = new Map<string, string>();
  /** Bytes written so far, against limits.totalBytes. */
  private written = 0;
  private saidFull = false;
  /** Why `dir` cannot be made (a file in its place, no write permission): then nothing is tried again, and one warning says so. */
  private dirError: string | undefined;

  constructor(
    private readonly api: MasterClient,
    /** Absolute. */
    readonly dir: string,
    private readonly log: Logger,
    private readonly cwd = process.cwd(),
    private readonly limits: KeptLimits = DEFAULT_KEPT_LIMITS,
  ) {}

  /** Files kept so far. */
  get size(): number {
    return this.kept.size;
  }

  async attempt(task: TaskView, attempt: AttemptView): Promise<[string, string][]> {
    await this.keep(task, attempt);
    return linksOf(attempt).map(([name, l]) => [name, this.link(l)]);
  }

  /** Every attempt of the groups the report and the JUnit file list (failed, flaky, canceled), passing retries of flaky ones included, and the attempts of the listed test cases. */
  async prepare(tasks: readonly TaskView[], caseAttempts: readonly CaseAttempt[] = []): Promise<void> {
    for (const task of tasks) {
      if (task.group !== "failed" && task.group !== "flaky" && task.group !== "canceled") continue;
      for (const attempt of task.attempts) await this.keep(task, attempt);
    }
    // Already kept ones are skipped by keep(); these are the attempts of cases in tasks that passed.
    const byId = new Map(tasks.map((t) => [t.task_id, t]));
    for (const c of caseAttempts) {
      const task = byId.get(c.task_id);
      const attempt = task?.attempts.find((a) => a.attempt === c.attempt);
      if (task && attempt) await this.keep(task, attempt);
    }
  }

  link(masterLink: string): string {
    const file = this.kept.get(masterLink);
    if (!file) return `(not kept: ${this.notKept.get(masterLink) ?? `${masterLink} is gone with the local master`})`;
    const rel = relative(this.cwd, file);
    return rel.startsWith("..") ? file : rel;
  }

  private async keep(task: TaskView, attempt: AttemptView): Promise<void> {
    for (const [name, masterLink] of linksOf(attempt)) {
      if (this.kept.has(masterLink) || this.notKept.has(masterLink)) continue;
      if (this.written >= this.limits.totalBytes) {
        this.notKept.set(masterLink, `${formatBytes(this.limits.totalBytes)} of logs were copied already; pass --data-dir DIR to keep them all`);
        if (!this.saidFull) this.log.warn(`${formatBytes(this.limits.totalBytes)} of the failed attempts' logs copied to ${this.dir}: no more are; pass --data-dir DIR to keep them all`);
        this.saidFull = true;
        continue;
      }
      if (!this.makeDir()) {
        this.notKept.set(masterLink, `${this.dir} cannot be made: ${this.dirError}`);
        continue;
      }
      // Only characters safe() keeps, dots and the fixed stream names: a description cannot lead the file out of the folder.
      const file = join(this.dir, `${attemptPrefix(task, attempt)}.${name === "artifacts" ? "zip" : name}`);
      try {
        const res = await this.api.download(masterLink, `copy ${name} of ${task.description} attempt ${attempt.attempt}`, 2);
        const copied = await this.copy(res, file, name === "artifacts");
        if (copied === "too big") {
          this.notKept.set(masterLink, `the archive is over ${formatBytes(this.limits.fileBytes)}; pass --data-dir DIR to keep it`);
          continue;
        }
        this.kept.set(masterLink, resolve(file));
      } catch (err) {
        rmSync(file, { force: true });
        this.log.warn(`could not keep ${name} of ${task.description} attempt ${attempt.attempt}: ${(err as Error).message}`);
      }
    }
  }

  /** Whether `dir` exists or was made now; the first failure is warned about and kept. */
  private makeDir(): boolean {
    if (this.dirError !== undefined) return false;
    try {
      mkdirSync(this.dir, { recursive: true });
      return true;
    } catch (err) {
      this.dirError = (err as Error).message;
      this.log.warn(`cannot keep the failed attempts' logs: ${this.dirError}; pass --data-dir DIR to keep them in the master's data`);
      return false;
    }
  }

  /** Writes the body to `file`, at most limits.fileBytes of it (and what the run's total has left): a log is cut with a line saying so, an archive is left whole or not written. */
  private async copy(res: Response, file: string, whole: boolean): Promise<"copied" | "too big"> {
    const cap = Math.min(this.limits.fileBytes, this.limits.totalBytes - this.written);
    const declared = Number(res.headers.get("content-length") ?? NaN);
    if (whole && declared > cap) {
      await res.body?.cancel();
      return "too big";
    }
    const fd = openSync(file, "w");
    let size = 0;
    let outcome: "copied" | "cut" | "too big" = "copied";
    try {
      for await (const chunk of res.body ?? []) {
        const room = cap - size;
        if (chunk.byteLength > room) {
          outcome = whole ? "too big" : "cut";
          if (!whole) {
            writeSync(fd, chunk.subarray(0, room));
            size += room;
          }
          // Leaving the loop cancels the rest of the download.
          break;
        }
        writeSync(fd, chunk);
        size += chunk.byteLength;
      }
      if (outcome === "cut") {
        const total = Number.isFinite(declared) ? ` of ${formatBytes(declared)}` : "";
        writeSync(fd, `\n[dt local: cut at ${formatBytes(size)}${total}; pass --data-dir DIR to keep the whole log]\n`);
      }
    } finally {
      closeSync(fd);
    }
    if (outcome === "too big") {
      rmSync(file, { force: true });
      return "too big";
    }
    this.written += size;
    return "copied";
  }
}

function formatBytes(n: number): string {
  if (n >= 2 ** 30 && n % 2 ** 30 === 0) return `${n / 2 ** 30} GiB`;
  if (n >= 2 ** 20) return `${Math.round(n / 2 ** 20)} MiB`;
  if (n >= 2 ** 10) return `${Math.round(n / 2 ** 10)} KiB`;
  return `${n} bytes`;
}

import { mkdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import type { Logger } from "../common/log.ts";
import type { MasterClient } from "../client/api.ts";
import { attemptPrefix } from "../client/fetch.ts";
import { type LinkPolicy, linksOf } from "../client/links.ts";
import type { AttemptView, TaskView } from "../master/protocol.ts";

/** Where `dt local` keeps what its report points at when no --data-dir is given: one folder per job, under the working directory. */
export const LOCAL_RESULTS_DIR = "dt-local-results";

/**
 * The links of `dt local`'s report: its master stops when the job ends, so
 * every log and archive the report names is copied here first (named as
 * `dt fetch` names them) and the report points at the copies. Nothing is
 * written until an attempt fails: a job that passed leaves no folder.
 */
export class KeptLogs implements LinkPolicy {
  /** Master link → the file it was copied to. */
  private readonly kept = new Map<string, string>();

  constructor(
    private readonly api: MasterClient,
    /** Absolute. */
    readonly dir: string,
    private readonly log: Logger,
    private readonly cwd = process.cwd(),
  ) {}

  /** Files kept so far. */
  get size(): number {
    return this.kept.size;
  }

  async attempt(task: TaskView, attempt: AttemptView): Promise<[string, string][]> {
    await this.keep(task, attempt);
    return linksOf(attempt).map(([name, l]) => [name, this.link(l)]);
  }

  /** Every attempt of the groups the report and the JUnit file list (failed, flaky, canceled), passing retries of flaky ones included. */
  async prepare(tasks: readonly TaskView[]): Promise<void> {
    for (const task of tasks) {
      if (task.group !== "failed" && task.group !== "flaky" && task.group !== "canceled") continue;
      for (const attempt of task.attempts) await this.keep(task, attempt);
    }
  }

  link(masterLink: string): string {
    const file = this.kept.get(masterLink);
    if (!file) return `(not kept: ${masterLink} is gone with the local master)`;
    const rel = relative(this.cwd, file);
    return rel.startsWith("..") ? file : rel;
  }

  private async keep(task: TaskView, attempt: AttemptView): Promise<void> {
    for (const [name, masterLink] of linksOf(attempt)) {
      if (this.kept.has(masterLink)) continue;
      const file = join(this.dir, `${attemptPrefix(task, attempt)}.${name === "artifacts" ? "zip" : name}`);
      try {
        mkdirSync(this.dir, { recursive: true });
        await Bun.write(file, await this.api.download(masterLink, `copy ${name} of ${task.description} attempt ${attempt.attempt}`, 2));
        this.kept.set(masterLink, resolve(file));
      } catch (err) {
        this.log.warn(`could not keep ${name} of ${task.description} attempt ${attempt.attempt}: ${(err as Error).message}`);
      }
    }
  }
}

import type { AttemptView, TaskView } from "../master/protocol.ts";
import type { MasterClient } from "./api.ts";

/**
 * Where the report sends a reader for an attempt's logs and artifacts:
 * the master's links (made absolute), or, for a master about to stop
 * (`dt local`), files kept on this machine.
 */
export interface LinkPolicy {
  /** Stream name → where to read it, for an attempt printed as it fails. */
  attempt(task: TaskView, attempt: AttemptView): Promise<[string, string][]>;
  /**
   * Before the final report and JUnit file: whatever their links need (a
   * local run copies the logs). `caseAttempts`: attempts a listed test case
   * points at beyond the failed and flaky tasks' (a case that passed on its
   * runner's own rerun, in a task that passed).
   */
  prepare?(tasks: readonly TaskView[], caseAttempts?: readonly CaseAttempt[]): Promise<void>;
  /** A link of the master, as the final report and the JUnit file print it. */
  link(masterLink: string): string;
}

/** An attempt a test case in the report points at. */
export interface CaseAttempt {
  task_id: string;
  attempt: number;
}

/** The master's own links, made absolute: they live as long as the master keeps its artifacts. */
export function masterLinks(api: MasterClient): LinkPolicy {
  return {
    attempt: async (_task, a) => linksOf(a).map(([name, l]) => [name, api.resolveLink(l)]),
    link: (l) => api.resolveLink(l),
  };
}

/** An attempt's links by name, in the order the report prints them. */
export function linksOf(a: AttemptView): [string, string][] {
  const out: [string, string][] = [];
  if (a.stdout_link) out.push(["stdout", a.stdout_link]);
  if (a.stderr_link) out.push(["stderr", a.stderr_link]);
  if (a.artifact_archive_link) out.push(["artifacts", a.artifact_archive_link]);
  return out;
}

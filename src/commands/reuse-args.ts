import { UsageError } from "./argv.ts";
import { splitAtDashDash } from "./context.ts";

/**
 * `--reuse` / `--no-reuse` of the commands that submit a job (docs/reuse.md).
 * No default: without either, the job request has no `reuse` and each task's
 * `idempotent` decides, and a master from before reuse (which refuses keys
 * it does not know) takes the request as before.
 */
export const reuseArgs = {
  reuse: {
    type: "boolean",
    description: "Reuse the results of identical tasks that passed before, or that run now in another job: every task counts as idempotent",
    negativeDescription: "Run every task, reusing nothing (its results are still kept for later jobs)",
  },
} as const;

const REUSE_WORD = /^--(no-)?reuse(?:=(true|false))?$/;

/**
 * The job's `reuse` as the command line gives it: true, false, or undefined
 * for neither flag. Read from the words, not citty's parse, which keeps the
 * last of `--reuse --no-reuse` and so would run (or reuse) what the user
 * asked both ways; that is refused instead. Only the words before `--`.
 *
 * @example reuseOf(["--no-reuse", "t.json"], "dt submit") === false
 */
export function reuseOf(rawArgs: readonly string[], command: string): boolean | undefined {
  const given = new Set<boolean>();
  for (const word of splitAtDashDash(rawArgs).flags) {
    const m = REUSE_WORD.exec(word);
    if (m) given.add(m[1] === undefined && m[2] !== "false");
  }
  if (given.size > 1) {
    throw new UsageError(command, "--reuse and --no-reuse contradict each other; give one (--reuse: take identical tasks' results, --no-reuse: run every task) or neither (each task's \"idempotent\" decides)");
  }
  return given.size === 0 ? undefined : [...given][0];
}

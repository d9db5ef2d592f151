import { dirname, resolve } from "node:path";
import { parseTasks, readTasksJson, taskObjects } from "../client/tasks-file.ts";
import { DtError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import { type ArchiveTarget, archiveTargets, targetFromPaths } from "../isolate/archive/archive.ts";
import { CasClient } from "../isolate/cas/client.ts";
import { targetFromIsolate } from "../commands/archive.ts";

/** Stands in for a task's `isolate` file while its other fields are checked, before anything is archived. */
const UNARCHIVED = "0".repeat(64);

/**
 * Reads a tasks file for `dt local`: dist_test's task JSON, where a task may
 * name an `.isolate` file (key `isolate`, relative to the tasks file)
 * instead of an `isolate_hash`. Checked as `dt submit` checks a tasks file
 * (unknown keys refused with a guess, the master's limits), before any
 * server starts or anything is archived.
 */
export function readLocalTasks(path: string): { json: { tasks: Record<string, unknown>[] }; ignoredKeys: string[] } {
  const json = readTasksJson(path);
  const tasks = taskObjects(json, path, ["isolate"]);
  tasks.forEach((t, i) => {
    if (t.isolate === undefined) return;
    if (typeof t.isolate !== "string" || t.isolate === "") throw new DtError("invalid_input", `${path}: tasks[${i}].isolate must be the path of an .isolate file, got ${JSON.stringify(t.isolate)?.slice(0, 80)}`);
    if (t.isolate_hash !== undefined) throw new DtError("invalid_input", `${path}: tasks[${i}] has both isolate and isolate_hash; give one`);
  });
  const { ignoredKeys } = parseTasks({ tasks: tasks.map(({ isolate, ...t }) => (isolate === undefined ? t : { ...t, isolate_hash: UNARCHIVED })) }, path);
  return { json: { tasks }, ignoredKeys };
}

/** The tasks of `readLocalTasks`, each `isolate` archived to `casUrl` in one batch and replaced by its digest. */
export async function archiveTasksFile(path: string, json: { tasks: Record<string, unknown>[] }, casUrl: string, log: Logger, hashCachePath: string | undefined): Promise<unknown> {
  const tasks = json.tasks;
  const toArchive: { index: number; isolate: string }[] = [];
  tasks.forEach((t, index) => {
    if (typeof t.isolate === "string") toArchive.push({ index, isolate: resolve(dirname(path), t.isolate) });
  });
  if (toArchive.length === 0) return json;
  const targets = await Promise.all(toArchive.map((a) => targetFromIsolate(a.isolate, undefined, [])));
  const digests = await archive(targets, casUrl, log, hashCachePath);
  const out = tasks.map((t) => ({ ...t }));
  toArchive.forEach((a, i) => {
    const { isolate: _, ...rest } = out[a.index]!;
    out[a.index] = { ...rest, isolate_hash: digests[i] };
  });
  return { ...json, tasks: out };
}

/** dist_test's description column: a command's description is cut to it. */
const COMMAND_DESCRIPTION_CHARS = 100;

/**
 * The descriptions of `dt local --dir` tasks, one per command: the command
 * on one line (a description holds no control characters, and `sh -c` takes
 * a script of several), cut to 100 characters without splitting a UTF-16
 * surrogate pair (half a pair is not text, and the master refuses it).
 * Throws for no commands or a blank one, before anything starts.
 *
 * @example commandDescriptions(["make test\nmake check"]) // ["make test make check"]
 */
export function commandDescriptions(commands: readonly string[]): string[] {
  if (commands.length === 0) throw new DtError("invalid_input", "--dir needs one or more commands after --, each run as one task with sh -c");
  return commands.map((command, i) => {
    const line = command.replace(/[\s\u0000-\u001f\u007f]+/g, " ").trim();
    if (line === "") throw new DtError("invalid_input", `command ${i + 1} after -- is blank (${JSON.stringify(command)}); each command after -- runs as one task with sh -c`);
    if (line.length <= COMMAND_DESCRIPTION_CHARS) return line;
    const end = /[\ud800-\udbff]/.test(line[COMMAND_DESCRIPTION_CHARS - 1]!) ? COMMAND_DESCRIPTION_CHARS - 1 : COMMAND_DESCRIPTION_CHARS;
    return line.slice(0, end);
  });
}

/** One task per command, all sharing the tree of `dir`: `dt local --dir DIR -- "cmd one" "cmd two"`. */
export async function archiveCommands(dir: string, commands: readonly string[], casUrl: string, log: Logger, hashCachePath: string | undefined, task: { timeout?: number; max_retries?: number }) {
  const descriptions = commandDescriptions(commands);
  const targets = commands.map((command) => targetFromPaths({ root: dir, paths: ["."], command: ["sh", "-c", command] }));
  const digests = await archive(targets, casUrl, log, hashCachePath);
  return { tasks: commands.map((_, i) => ({ isolate_hash: digests[i], description: descriptions[i], ...task })) };
}

async function archive(targets: ArchiveTarget[], casUrl: string, log: Logger, hashCachePath: string | undefined): Promise<string[]> {
  const { results, stats } = await archiveTargets(targets, { cas: new CasClient(casUrl), log, hashCachePath });
  log.info(`archived ${results.length} manifests: ${stats.files} files, ${stats.upload.uploadedItems} blobs uploaded`);
  return results.map((r) => r.digest.hash);
}

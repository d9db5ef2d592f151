import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { DtError, errnoCode } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import { type ArchiveTarget, archiveTargets, targetFromPaths } from "../isolate/archive/archive.ts";
import { CasClient } from "../isolate/cas/client.ts";
import { targetFromIsolate } from "../commands/archive.ts";

/**
 * Reads a tasks file for `dt local`: dist_test's task JSON, where a task may
 * name an `.isolate` file (key `isolate`, relative to the tasks file)
 * instead of an `isolate_hash`; those are archived to `casUrl` in one batch
 * and replaced by their digests.
 */
export async function archiveTasksFile(path: string, casUrl: string, log: Logger, hashCachePath: string | undefined): Promise<unknown> {
  let json: { tasks?: unknown };
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    if (errnoCode(err) === "ENOENT") throw new DtError("not_found", `task file ${path} does not exist`);
    throw new DtError("invalid_input", `task file ${path} is not valid JSON (${(err as Error).message})`);
  }
  if (!json || !Array.isArray(json.tasks)) throw new DtError("invalid_input", `${path}: expected an object {"tasks": [...]}`);
  const tasks = json.tasks as Record<string, unknown>[];
  const toArchive: { index: number; isolate: string }[] = [];
  tasks.forEach((t, index) => {
    if (t && typeof t === "object" && typeof t.isolate === "string") toArchive.push({ index, isolate: resolve(dirname(path), t.isolate) });
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

/** One task per command, all sharing the tree of `dir`: `dt local --dir DIR -- "cmd one" "cmd two"`. */
export async function archiveCommands(dir: string, commands: readonly string[], casUrl: string, log: Logger, hashCachePath: string | undefined, task: { timeout?: number; max_retries?: number }) {
  if (commands.length === 0) throw new DtError("invalid_input", "--dir needs one or more commands after --, each run as one task with sh -c");
  const targets = commands.map((command) => targetFromPaths({ root: dir, paths: ["."], command: ["sh", "-c", command] }));
  const digests = await archive(targets, casUrl, log, hashCachePath);
  return { tasks: commands.map((command, i) => ({ isolate_hash: digests[i], description: command.slice(0, 100), ...task })) };
}

async function archive(targets: ArchiveTarget[], casUrl: string, log: Logger, hashCachePath: string | undefined): Promise<string[]> {
  const { results, stats } = await archiveTargets(targets, { cas: new CasClient(casUrl), log, hashCachePath });
  log.info(`archived ${results.length} manifests: ${stats.files} files, ${stats.upload.uploadedItems} blobs uploaded`);
  return results.map((r) => r.digest.hash);
}

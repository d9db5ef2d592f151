/**
 * Which dt a bench runs: the checkout's source by default (`bun
 * src/main.ts`, no build step, so the bench measures the tree it sits in),
 * or a built binary copied into the scratch directory (`--dt PATH`), with
 * the version line the bench's table is headed by.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { DtCommand } from "./cluster/procs.ts";
import { privateBinary, timedRun } from "./isolate/procs.ts";

const repo = resolve(import.meta.dir, "..");

export async function dtUnderTest(dtPath: string | undefined, scratch: string, fail: (message: string) => never): Promise<{ dt: DtCommand; version: string }> {
  if (dtPath) {
    if (!existsSync(dtPath)) fail(`--dt ${dtPath} does not exist; run \`bun run build\` first`);
    return privateBinary(dtPath, scratch);
  }
  const dt: DtCommand = [process.execPath, join(repo, "src", "main.ts")];
  const commit = (await timedRun(["git", "-C", repo, "describe", "--always", "--dirty", "--abbrev=12"], { timeoutMs: 10_000 })).stdout.trim();
  return { dt, version: `${(await timedRun([...dt, "--version"], { timeoutMs: 30_000 })).stdout.trim()} (source at ${commit})` };
}

import { chmod, lstat, mkdtemp, readdir, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Temporary directories that a test file removes in `afterEach`, read-only
 * parts included (run-isolated makes read_only 2 trees, and a test that
 * failed half-way may leave one behind).
 *
 * @example
 *   const temps = new TempDirs();
 *   afterEach(() => temps.cleanup());
 *   const dir = await temps.make("archive-");
 */
export class TempDirs {
  private readonly dirs: string[] = [];

  /** A fresh empty directory under `parent` (the system temp dir by default); its real path, so paths printed by dt compare equal. */
  async make(prefix = "dt-test-", parent = tmpdir()): Promise<string> {
    const dir = await realpath(await mkdtemp(join(parent, prefix)));
    this.dirs.push(dir);
    return dir;
  }

  /** Removes every directory made so far; never throws, so one bad dir cannot hide a test's own failure. */
  async cleanup(): Promise<void> {
    for (const dir of this.dirs.splice(0)) {
      await makeDirsWritable(dir).catch(() => {});
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    }
  }
}

/** Gives every directory under `dir` (not following symlinks) its owner's write bit back, so its entries can be removed. */
export async function makeDirsWritable(dir: string): Promise<void> {
  const info = await lstat(dir).catch(() => null);
  if (!info?.isDirectory()) return;
  await chmod(dir, 0o755);
  for (const name of await readdir(dir)) await makeDirsWritable(join(dir, name));
}

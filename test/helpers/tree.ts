import { chmod, mkdir, symlink, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

/** One entry of a test tree: file content, a file with a mode, or a symlink. */
export type TreeSpec = Record<string, string | { content: string; mode: number } | { symlink: string }>;

/**
 * Writes `spec` under `root`, making parent directories.
 *
 * @example
 *   await writeTree(dir, { "bin/run.sh": { content: "#!/bin/sh\n", mode: 0o755 }, "data.txt": "x", "link": { symlink: "data.txt" } });
 */
export async function writeTree(root: string, spec: TreeSpec): Promise<void> {
  for (const [path, entry] of Object.entries(spec)) {
    const abs = join(root, path);
    await mkdir(dirname(abs), { recursive: true });
    if (typeof entry === "string") {
      await writeFile(abs, entry);
    } else if ("symlink" in entry) {
      await symlink(entry.symlink, abs);
    } else {
      await writeFile(abs, entry.content);
      await chmod(abs, entry.mode);
    }
  }
}

/**
 * Sets the mtime of `paths` an hour back. The hash cache does not remember
 * a file modified within two seconds of being hashed (it could change again
 * within the same mtime tick), so a test that expects cache hits must age
 * its files rather than wait.
 */
export async function backdate(paths: readonly string[]): Promise<void> {
  const anHourAgo = new Date(Date.now() - 3_600_000);
  for (const p of paths) await utimes(p, anHourAgo, anHourAgo);
}

/** A POSIX shell script: `#!/bin/sh` plus `body`. */
export function shellScript(body: string): { content: string; mode: number } {
  return { content: `#!/bin/sh\n${body}\n`, mode: 0o755 };
}

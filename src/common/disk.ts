import { statfs } from "node:fs/promises";

/**
 * Free bytes on the filesystem holding `path`, as an unprivileged user may
 * use them (statfs's available blocks, not its free ones: the root reserve
 * is not for dt). The cache trims by it, and the slave quarantines and
 * reports by it.
 */
export async function freeDiskBytes(path: string): Promise<number> {
  const fs = await statfs(path);
  return fs.bavail * fs.bsize;
}

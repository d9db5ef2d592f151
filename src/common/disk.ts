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

/**
 * Size of the filesystem holding `path`, as an unprivileged user could ever
 * fill it (everything but the root reserve): the most a cache on it can
 * hold, however much it evicts.
 */
export async function diskSizeBytes(path: string): Promise<number> {
  const fs = await statfs(path);
  return (fs.blocks - (fs.bfree - fs.bavail)) * fs.bsize;
}

import { closeSync, readSync } from "node:fs";
import { openNoFollow } from "../common/open-no-follow.ts";

/**
 * The most a slave's own small files (run records, owner.json) hold, bytes:
 * each is one JSON object of a few hundred bytes; 64 KiB leaves room and
 * keeps a stray huge file from being read whole into memory.
 */
export const MAX_RECORD_BYTES = 64 * 1024;

/**
 * The text of one of the slave's small files, or null when it is not one:
 * absent, a symlink (not followed: the slave writes none, so one was planted
 * and may point anywhere, /dev/zero included), not a regular file (a FIFO
 * would block the read forever), or bigger than MAX_RECORD_BYTES.
 */
export function readRecordFile(path: string): string | null {
  let opened: ReturnType<typeof openNoFollow>;
  try {
    opened = openNoFollow(path);
  } catch {
    return null;
  }
  const { fd, stat } = opened;
  try {
    if (!stat.isFile() || stat.size > MAX_RECORD_BYTES) return null;
    const buffer = Buffer.alloc(stat.size);
    let read = 0;
    while (read < stat.size) {
      const n = readSync(fd, buffer, read, stat.size - read, read);
      if (n === 0) break;
      read += n;
    }
    return buffer.subarray(0, read).toString("utf8");
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

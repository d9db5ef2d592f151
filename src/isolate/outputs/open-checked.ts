import { closeSync, existsSync } from "node:fs";
import { openNoFollow } from "../../common/open-no-follow.ts";
import { DtError } from "../../common/errors.ts";

/** What the outputs walk saw of a regular file: the file that may be read, and how much of it. */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
}

/**
 * Opens `path` for reading only if it is still the regular file the walk
 * saw. The outputs directory belongs to the test, and a process of it that
 * left the group (setsid) outlives the command: between the walk and the
 * read it can swap a file for a symlink (to the slave's secrets), a fifo
 * (whose open or read would block the upload, and the slot, forever) or
 * a bigger file, or swap a parent directory for a symlink, which O_NOFOLLOW
 * (last component only) does not see. So: no following, no blocking on a
 * fifo, and the open file must be the same inode of the same size.
 * Returns the fd; the caller closes it.
 *
 * @example const fd = openChecked(f.abs, f.identity); try { ... } finally { closeSync(fd); }
 */
export function openChecked(path: string, expected: FileIdentity): number {
  let opened: ReturnType<typeof openNoFollow>;
  try {
    opened = openNoFollow(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw new DtError("invalid_input", `${path} became a symbolic link after the outputs were listed; not read`);
    if (code === "ENOENT") throw new DtError("not_found", `${path} was removed after the outputs were listed`);
    throw err;
  }
  const { fd, stat: st } = opened;
  try {
    if (!st.isFile()) throw new DtError("invalid_input", `${path} is no longer a regular file (replaced after the outputs were listed); not read`);
    if (st.dev !== expected.dev || st.ino !== expected.ino) throw new DtError("invalid_input", `${path} was replaced by another file after the outputs were listed; not read`);
    if (st.size !== expected.size) throw new DtError("invalid_input", `${path} changed size after the outputs were listed (${expected.size} → ${st.size} bytes); not read`);
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * A path that reads the open file `fd` itself, whatever is now at its
 * name: Linux's /proc magic link, re-opened afresh by each reader (so a
 * retried upload reads from the start again), pinned to the inode checked.
 * Without /proc (not Linux) it is `path` again: the checks at the open
 * still hold, only the window between them and the read stays open.
 */
export function pathOfFd(fd: number, path: string): string {
  return existsSync("/proc/self/fd") ? `/proc/self/fd/${fd}` : path;
}

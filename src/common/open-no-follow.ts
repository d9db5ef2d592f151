import { closeSync, constants, fstatSync, openSync, type Stats } from "node:fs";

/**
 * Opens `path` for reading the way a file someone else controls must be
 * opened: a symlink at its last component is not followed (the open fails
 * with ELOOP) and a fifo is not waited on (O_NONBLOCK: opening one with no
 * writer would block for ever). Returns the fd with its stat, so the caller
 * checks what it got (a regular file, the inode it expected) on the open
 * file itself, not on a name that can be swapped meanwhile; the caller
 * closes the fd. Throws the open's error.
 *
 * @example
 *   const { fd, stat } = openNoFollow(path);
 *   try { if (!stat.isFile()) return null; ... } finally { closeSync(fd); }
 */
export function openNoFollow(path: string): { fd: number; stat: Stats } {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    return { fd, stat: fstatSync(fd) };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

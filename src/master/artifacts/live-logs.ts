import { appendFileSync, mkdirSync, openSync, readSync, closeSync, statSync } from "node:fs";
import { join } from "node:path";
import { DtError } from "../../common/errors.ts";
import { isArtifactKey } from "./artifact-store.ts";

/** Largest slice one read returns, so a client following a huge log pages through it. */
const MAX_READ_BYTES = 4 * 2 ** 20;

/**
 * Logs of running attempts as they grow, appended by offset so a slave's
 * retried chunk is never written twice. Kept on the master's disk: they are
 * read back while the attempt runs, then superseded by the uploaded log.
 */
export class LiveLogs {
  /**
   * Sizes of the logs appended to lately, so that an append (a busy master
   * takes one per running attempt every few seconds) costs one write, not
   * two stats besides. Right because the master is the only writer of its
   * logs; bounded, the oldest forgotten first (read from the disk again).
   */
  private readonly sizes = new Map<string, number>();

  constructor(
    private readonly dir: string,
    private readonly maxKnownSizes = 20_000,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /**
   * Appends `bytes`, which start at byte `offset` of the log. Bytes the log
   * already has (a retried chunk) are skipped; a gap is refused, since the
   * slave must resend from the size this returns.
   */
  append(key: string, offset: number, bytes: Uint8Array): number {
    const size = this.size(key);
    if (offset > size) throw new DtError("invalid_input", `log ${key}: chunk starts at ${offset} but the log has ${size} bytes; resend from ${size}`);
    const fresh = bytes.subarray(size - offset);
    if (fresh.byteLength === 0) return size;
    try {
      appendFileSync(this.path(key), fresh);
    } catch (err) {
      // Some of it may have been written: the disk says how much.
      this.sizes.delete(key);
      throw err;
    }
    this.remember(key, size + fresh.byteLength);
    return size + fresh.byteLength;
  }

  size(key: string): number {
    const known = this.sizes.get(key);
    if (known !== undefined) return known;
    // No exception for a log not started yet, the usual case at a first append.
    const size = statSync(this.path(key), { throwIfNoEntry: false })?.size ?? 0;
    // A log not started yet too: its first append, just after the route's check, then costs no second stat.
    this.remember(key, size);
    return size;
  }

  private remember(key: string, size: number): void {
    this.sizes.delete(key);
    this.sizes.set(key, size);
    if (this.sizes.size > this.maxKnownSizes) this.sizes.delete(this.sizes.keys().next().value!);
  }

  /** The log's bytes from `offset` (at most 4 MiB), and its size so far. */
  read(key: string, offset: number): { bytes: Uint8Array; size: number } {
    const size = this.size(key);
    if (offset >= size) return { bytes: new Uint8Array(0), size };
    const length = Math.min(size - offset, MAX_READ_BYTES);
    const buffer = Buffer.allocUnsafe(length);
    const fd = openSync(this.path(key), "r");
    try {
      const n = readSync(fd, buffer, 0, length, offset);
      return { bytes: buffer.subarray(0, n), size };
    } finally {
      closeSync(fd);
    }
  }

  private path(key: string): string {
    if (!isArtifactKey(key)) throw new DtError("invalid_input", `log key ${JSON.stringify(key.slice(0, 80))} is not a valid key`);
    return join(this.dir, key);
  }
}

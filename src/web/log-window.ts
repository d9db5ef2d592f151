/**
 * The slice of a log one page reads: the last LOG_WINDOW_BYTES by default,
 * or the slice before or after an offset that the page's own links name,
 * cut at line starts, with the number of the slice's first line. Lines are
 * counted, not labelled by byte offset, so that `#L120` means what a user
 * reading the raw file means. Counting reads the log before the slice once
 * per view, in one pass (Master.scanLog): the tail page of a 100 MB log of
 * 1M lines takes 30–50 ms on a 2-core machine, about twice a plain read of
 * the 100 MB. A finished log's counts could be cached if that ever matters.
 */
import type { Master } from "../master/master.ts";
import type { LogRef } from "./log-pages.tsx";

/** What a page reads at once: a few thousand lines; the page then keeps what fits its HTML budget (routes.tsx). */
export const LOG_WINDOW_BYTES = 256 * 1024;
const NEWLINE = 10;

/**
 * Which slice a request asks for: the end (default), what ends at `before`,
 * what starts at `after`, or what starts with line `line`. `firstLine` is
 * the number of the line at `after` when the caller knows it (the live
 * page's script does), sparing a count of the whole log on every poll.
 */
export type LogRange = { before?: number; after?: number; line?: number; firstLine?: number };

export interface LogWindow {
  /** Byte offsets of the slice: [start, end). */
  start: number;
  end: number;
  /** The number (from 1) of the line that starts at `start`, or continues there when the slice starts mid-line. */
  firstLine: number;
  /** The slice's bytes. */
  bytes: Uint8Array;
  /** The log's size when read, and whether it will grow no more. */
  size: number;
  complete: boolean;
}

/** The master's two ways of reading a log: 4 MiB slices from an offset, and one pass over a prefix. */
export type LogReader = Pick<Master, "readLog" | "scanLog">;

/** Reads [start, end) of a log in as many reads as the store needs (each answers at most 4 MiB). */
async function readRange(logs: LogReader, log: LogRef, start: number, end: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let offset = start;
  while (offset < end) {
    const { bytes } = await logs.readLog(log.jobId, log.taskId, log.attempt, log.stream, offset);
    if (bytes.byteLength === 0) break;
    const part = bytes.subarray(0, Math.min(bytes.byteLength, end - offset));
    parts.push(part);
    offset += part.byteLength;
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** How many newlines `bytes` holds: Buffer.indexOf is memchr, far faster than a loop over bytes in JS. */
export function countNewlines(bytes: Uint8Array): number {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let count = 0;
  for (let at = buffer.indexOf(NEWLINE); at !== -1; at = buffer.indexOf(NEWLINE, at + 1)) count++;
  return count;
}

/** Newlines in [0, end), in one pass that never holds the log whole. */
async function newlinesBefore(logs: LogReader, log: LogRef, end: number): Promise<number> {
  let count = 0;
  await logs.scanLog(log.jobId, log.taskId, log.attempt, log.stream, end, (chunk) => {
    count += countNewlines(chunk);
  });
  return count;
}

/** The offset of line `line` (from 1), or the log's size when it has fewer lines. */
async function lineOffset(logs: LogReader, log: LogRef, line: number, size: number): Promise<number> {
  if (line === 1) return 0;
  let seen = 1;
  let found = size;
  await logs.scanLog(log.jobId, log.taskId, log.attempt, log.stream, size, (chunk, at) => {
    const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let i = buffer.indexOf(NEWLINE); i !== -1; i = buffer.indexOf(NEWLINE, i + 1)) {
      if (++seen === line) {
        found = at + i + 1;
        return true;
      }
    }
    return false;
  });
  return found;
}

/**
 * The slice a page shows. A slice ending before the log's end ends at a line
 * start (just after a newline) and one starting after 0 starts at one, so
 * that earlier and later slices meet without cutting a line; a single line
 * longer than the window is cut where the window ends.
 */
export async function readLogWindow(logs: LogReader, log: LogRef, range: LogRange, window = LOG_WINDOW_BYTES): Promise<LogWindow> {
  const probe = await logs.readLog(log.jobId, log.taskId, log.attempt, log.stream, Number.MAX_SAFE_INTEGER);
  const { size, complete } = probe;
  let start: number;
  let end: number;
  if (range.line !== undefined) {
    start = await lineOffset(logs, log, range.line, size);
    end = Math.min(size, start + window);
  } else if (range.after !== undefined) {
    start = Math.min(range.after, size);
    end = Math.min(size, start + window);
  } else {
    end = Math.min(range.before ?? size, size);
    start = Math.max(0, end - window);
  }
  const raw = await readRange(logs, log, start, end);
  // Trim the slice to whole lines at whichever side meets another slice.
  let from = 0;
  let to = raw.byteLength;
  if (start > 0 && range.line === undefined && range.after === undefined) {
    const first = raw.indexOf(NEWLINE);
    if (first !== -1 && first + 1 < raw.byteLength) from = first + 1;
  }
  // A running log's last line may be unfinished: it waits for its newline (unless it alone fills the window).
  if ((end < size || !complete) && range.before === undefined) {
    const last = raw.lastIndexOf(NEWLINE);
    if (last !== -1 && last + 1 > from) to = last + 1;
    else if (!complete && raw.byteLength < window) to = from;
  }
  const known = range.after !== undefined && range.firstLine !== undefined && from === 0;
  const firstLine = known ? range.firstLine! : 1 + (await newlinesBefore(logs, log, start + from));
  return { start: start + from, end: start + to, firstLine, bytes: raw.subarray(from, to), size, complete };
}

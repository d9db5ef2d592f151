/**
 * Where a test case failed in its attempt's log: what the job page's case
 * links open (`view_log?…&case=Suite.Name&at=file.cc:12`), so a reader
 * lands on the failure, not on line 1 of a 20,000-line log. The log is
 * scanned once, in chunks, never held whole.
 */
import type { LogRef } from "./log-pages.tsx";
import type { LogReader } from "./log-window.ts";

const NEWLINE = 10;
/** A line kept across chunks is cut here: a needle is short, and a runaway line must not grow a buffer without end. */
const MAX_CARRY = 64 * 1024;

/**
 * The number (from 1) of the line a case's failure is on: the first line
 * naming `place` (the failure's `file:line`, matched by the file's base
 * name, as runners print paths differently) at or after the first line
 * naming the case; else that line; else null (the log never names it).
 * With it, the line that names the case (where its output starts).
 */
export async function findCaseLine(logs: LogReader, log: LogRef, size: number, caseName: string, place: string | null): Promise<{ caseLine: number; line: number } | null> {
  const name = Buffer.from(caseName);
  const at = place ? Buffer.from(place.slice(place.lastIndexOf("/") + 1)) : null;
  let caseLine: number | null = null;
  let found: number | null = null;
  let linesBefore = 0;
  let carry = Buffer.alloc(0);
  await logs.scanLog(log.jobId, log.taskId, log.attempt, log.stream, size, (chunk) => {
    const buffer = carry.byteLength > 0 ? Buffer.concat([carry, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const lastNewline = buffer.lastIndexOf(NEWLINE);
    // Only whole lines are searched; the unfinished last one waits for the next chunk (or the end).
    const whole = lastNewline === -1 ? 0 : lastNewline + 1;
    const lineOf = (offset: number) => linesBefore + 1 + countNewlines(buffer, 0, offset);
    let from = 0;
    if (caseLine === null) {
      const hit = buffer.subarray(0, whole).indexOf(name);
      if (hit !== -1) {
        caseLine = lineOf(hit);
        from = hit;
      }
    }
    if (caseLine !== null && at) {
      const hit = buffer.subarray(0, whole).indexOf(at, from);
      if (hit !== -1) {
        found = lineOf(hit);
        return true;
      }
    } else if (caseLine !== null) {
      return true;
    }
    linesBefore += countNewlines(buffer, 0, whole);
    const rest = buffer.subarray(whole);
    carry = Buffer.from(rest.byteLength > MAX_CARRY ? rest.subarray(rest.byteLength - MAX_CARRY) : rest);
    return false;
  });
  // The log's last line, when it has no newline, is searched at the end.
  if (found === null && carry.byteLength > 0) {
    if (caseLine === null && carry.indexOf(name) !== -1) caseLine = linesBefore + 1;
    if (caseLine !== null && at && carry.indexOf(at) !== -1) found = linesBefore + 1;
  }
  return caseLine === null ? null : { caseLine, line: found ?? caseLine };
}

function countNewlines(buffer: Buffer, from: number, to: number): number {
  let count = 0;
  for (let i = buffer.indexOf(NEWLINE, from); i !== -1 && i < to; i = buffer.indexOf(NEWLINE, i + 1)) count++;
  return count;
}

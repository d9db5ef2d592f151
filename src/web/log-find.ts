/**
 * Where a test case failed in its attempt's log: what the job page's case
 * links open (`view_log?…&case=Suite.Name&at=file.cc:12`), so a reader
 * lands on the failure, not on line 1 of a 20,000-line log. The log is
 * scanned once, in chunks, never held whole.
 */
import type { LogRef } from "./log-pages.tsx";
import { type LogReader, countNewlines } from "./log-window.ts";

const NEWLINE = 10;
/**
 * The unfinished line kept across chunks is cut to its last this many
 * bytes: a runaway line must not grow a buffer without end. What is cut was
 * searched already; what is kept only has to hold a needle straddling the
 * next chunk (MAX_CASE_NAME characters, at most 4 bytes each).
 */
const MAX_CARRY = 64 * 1024;

/** Bytes of a name or path that continue a token: a match next to one is part of a longer name (Suite.Parse in Suite.ParseEmpty, :7 in :70). */
const isWordByte = (b: number) => (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b === 95;
/** A file name also continues over `-` and `.`: suite_test.cc is not other-suite_test.cc or x.suite_test.cc. */
const isFileByte = (b: number) => isWordByte(b) || b === 45 || b === 46;

/** A needle and what may not touch it on either side, regex \b-like: checked only where the needle's own edge is a word byte. */
interface Needle {
  bytes: Buffer;
  before: (b: number) => boolean;
}

/**
 * The first whole-token occurrence of `needle` in `buffer` at or after
 * `from`; "open" when the only one found ends at the buffer's end, where the
 * next chunk may still continue it, and `final` is false.
 */
function findToken(buffer: Buffer, needle: Needle, from: number, final: boolean): number | "open" | -1 {
  const { bytes } = needle;
  const checkBefore = isWordByte(bytes[0]!);
  const checkAfter = isWordByte(bytes[bytes.byteLength - 1]!);
  for (let i = buffer.indexOf(bytes, from); i !== -1; i = buffer.indexOf(bytes, i + 1)) {
    if (checkBefore && i > 0 && needle.before(buffer[i - 1]!)) continue;
    const end = i + bytes.byteLength;
    if (checkAfter && end === buffer.byteLength && !final) return "open";
    if (checkAfter && end < buffer.byteLength && isWordByte(buffer[end]!)) continue;
    return i;
  }
  return -1;
}

/**
 * The number (from 1) of the line a case's failure is on: the first line
 * naming `place` (the failure's `file:line`, matched by the file's base
 * name, as runners print paths differently) at or after the first line
 * naming the case; else that line; else null (the log never names it).
 * With it, the line that names the case (where its output starts). Names
 * match whole (Suite.Parse is not in Suite.ParseEmpty, a.cc:7 not in
 * a.cc:70), wherever they are in a line, however long.
 */
export async function findCaseLine(logs: LogReader, log: LogRef, size: number, caseName: string, place: string | null): Promise<{ caseLine: number; line: number } | null> {
  const name: Needle = { bytes: Buffer.from(caseName), before: isWordByte };
  const baseName = place ? place.slice(place.lastIndexOf("/") + 1) : "";
  const at: Needle | null = baseName ? { bytes: Buffer.from(baseName), before: isFileByte } : null;
  if (name.bytes.byteLength === 0) return null;
  let caseLine: number | null = null;
  let found: number | null = null;
  /** Lines before the buffer's first byte; the buffer starts with the unfinished line carried over, and its bytes were searched before (search again: a match may straddle). */
  let linesBefore = 0;
  let carry = Buffer.alloc(0);
  const search = (buffer: Buffer, final: boolean): "done" | "more" => {
    const lineOf = (offset: number) => linesBefore + 1 + countNewlines(buffer.subarray(0, offset));
    let from = 0;
    if (caseLine === null) {
      const hit = findToken(buffer, name, 0, final);
      if (hit === -1 || hit === "open") return "more";
      caseLine = lineOf(hit);
      from = hit;
    }
    if (!at) return "done";
    const hit = findToken(buffer, at, from, final);
    if (hit === -1 || hit === "open") return "more";
    found = lineOf(hit);
    return "done";
  };
  let ended = false;
  await logs.scanLog(log.jobId, log.taskId, log.attempt, log.stream, size, (chunk) => {
    const buffer = carry.byteLength > 0 ? Buffer.concat([carry, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (search(buffer, false) === "done") {
      ended = true;
      return true;
    }
    // Keep the unfinished last line (its end may complete a match); a case found in it is searched for its place again from the line's start, which is harmless.
    const whole = buffer.lastIndexOf(NEWLINE) + 1;
    linesBefore += countNewlines(buffer.subarray(0, whole));
    const rest = buffer.subarray(whole);
    const cut = Math.max(0, rest.byteLength - MAX_CARRY);
    carry = Buffer.from(rest.subarray(cut));
    return false;
  });
  // What is left may hold a match that ended where the last chunk did: the log's end decides it.
  if (!ended && carry.byteLength > 0) search(carry, true);
  return caseLine === null ? null : { caseLine, line: found ?? caseLine };
}

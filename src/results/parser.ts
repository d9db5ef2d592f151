/**
 * The results parsers' one seam: a `ResultParser` reads one report (a file
 * on disk, a stream or bytes) into a ParseOutcome. Parsers are pure and
 * bounded: they stream, keep at most MAX_CASE_MESSAGE_CHARS of any message,
 * and never throw on bad input — trouble becomes a note (ARCHITECTURE.md,
 * "Test cases": parsing trouble never fails an attempt).
 *
 * @example
 *   const outcome = await junitXmlParser.parse("/tmp/out/TEST-com.example.FooTest.xml");
 *   for (const c of outcome.cases) console.log(c.suite, c.name, c.status);
 */
import type { CaseResult, ParseOutcome, ResultFormat } from "./model.ts";
import { MAX_CASE_MESSAGE_CHARS } from "./model.ts";

/** What a parse knows of the attempt: how its command ended, for a case that was running when it died. */
export interface ParseOptions {
  /** The command's exit code; null when a signal ended it or it is unknown. */
  exitCode?: number | null;
  /** The signal that ended the command, as execute.ts reports it ("SIGABRT") or as a number. */
  signal?: string | number | null;
  /** Messages are cut at this many characters; default MAX_CASE_MESSAGE_CHARS. */
  maxMessageChars?: number;
  /** Stop after this many cases (a note says so); default MAX_CASES_PER_FILE. */
  maxCases?: number;
}

/** A report: a file's path (streamed from disk), a stream, or bytes already in memory. */
export type ResultSource = string | ReadableStream<Uint8Array> | Uint8Array;

export interface ResultParser {
  readonly format: ResultFormat;
  /** True when a file starting with `head` (its first HEAD_BYTES or fewer) is in this format. */
  detect(head: Uint8Array): boolean;
  /** Reads every case it can; never rejects for bad input (a note says what went wrong). */
  parse(source: ResultSource, options?: ParseOptions): Promise<ParseOutcome>;
}

/** How much of a file `detect` looks at: past an XML declaration, a BOM and a licence comment. */
export const HEAD_BYTES = 4_096;

/**
 * One report holds at most this many cases; the rest are dropped with a note.
 * Googletest's own suite has ~1,100; a million cases would be ~200 MB of
 * CaseResults in the slave, which no attempt should cost.
 */
export const MAX_CASES_PER_FILE = 200_000;

/** Notes per parse: enough to say what went wrong, not a second copy of a garbage file. */
export const MAX_NOTES = 20;

/** The bytes of a source, in chunks as they come from disk: a 200 MB file is never whole in memory. */
export async function* sourceChunks(source: ResultSource): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  const stream = typeof source === "string" ? Bun.file(source).stream() : source;
  for await (const chunk of stream) yield chunk;
}

/** The first `max` bytes of a file, for `detect`; empty when it cannot be read. */
export async function readHead(path: string, max = HEAD_BYTES): Promise<Uint8Array> {
  try {
    return new Uint8Array(await Bun.file(path).slice(0, max).arrayBuffer());
  } catch {
    return new Uint8Array(0);
  }
}

/**
 * Text kept up to a bound: appends past `max` characters are dropped and the
 * result ends with a marker saying how much was cut, so a 200 MB failure body
 * costs 4 KiB.
 */
export class BoundedText {
  private text = "";
  private dropped = 0;
  constructor(private readonly max: number) {}

  append(piece: string): void {
    const room = this.max - this.text.length;
    if (room >= piece.length) this.text += piece;
    else {
      if (room > 0) this.text += piece.slice(0, room);
      this.dropped += piece.length - Math.max(room, 0);
    }
  }

  get length(): number {
    return this.text.length + this.dropped;
  }

  toString(): string {
    return this.dropped === 0 ? this.text : `${this.text}… (${this.dropped} more characters cut)`;
  }
}

/** Cuts `text` to `max` characters with the same marker BoundedText uses. */
export function boundMessage(text: string, max: number = MAX_CASE_MESSAGE_CHARS): string {
  const bounded = new BoundedText(max);
  bounded.append(text);
  return bounded.toString();
}

/** Notes of one parse, capped at MAX_NOTES (the last says how many more there were). */
export class Notes {
  readonly list: string[] = [];
  private extra = 0;

  add(note: string): void {
    if (this.list.length < MAX_NOTES) this.list.push(boundMessage(note, 500));
    else this.extra++;
  }

  done(): string[] {
    return this.extra === 0 ? this.list : [...this.list, `… and ${this.extra} more notes`];
  }
}

/** The case list of one parse, bounded by `maxCases`. */
export class CaseList {
  readonly cases: CaseResult[] = [];
  private over = 0;
  constructor(private readonly maxCases: number) {}

  push(c: CaseResult): void {
    if (this.cases.length < this.maxCases) this.cases.push(c);
    else this.over++;
  }

  /** The note for dropped cases, if any. */
  overflowNote(): string | null {
    return this.over === 0 ? null : `${this.over} cases past the first ${this.maxCases} were dropped`;
  }
}

/** Why a parse stopped early, as a note: the message of whatever was thrown. */
export const describeProblem = (err: unknown): string => (err instanceof Error ? err.message : String(err));

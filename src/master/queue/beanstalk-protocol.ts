/**
 * The beanstalkd protocol apart from the socket, so it can be tested at
 * every packet split: answers are a CRLF-terminated line, and three of them
 * (`RESERVED id n`, `FOUND id n`, `OK n`) are followed by exactly n bytes of
 * body and a CRLF. Bodies are binary and may hold CRLF themselves, so they
 * are read by count, never by searching. Below the reader: the YAML of the
 * stats commands and the checks that turn an answer into a value.
 */

export interface Response {
  /** The answer line without its CRLF, e.g. "INSERTED 7". */
  line: string;
  /** The body of RESERVED, FOUND and OK answers; its own copy, not a view of a shared buffer. */
  body?: Uint8Array;
}

/** The longest answer line is "USING " + a 200-byte tube name; anything much longer means a peer that is not beanstalkd. */
const MAX_LINE_BYTES = 1024;
const CR = 13;
const LF = 10;
const WITH_BODY = /^(?:(?:RESERVED|FOUND) \d+|OK) (\d+)$/;

/**
 * Turns the bytes of a connection, in whatever pieces they arrive, into
 * whole answers in order. Throws when the bytes are not beanstalkd answers;
 * the connection is then out of step and must be closed.
 *
 * @example
 *   const reader = new ResponseReader();
 *   for (const answer of reader.feed(chunk)) settleOldestCommand(answer);
 */
export class ResponseReader {
  /** Bytes of an answer line not yet ended by CRLF. */
  private partialLine: Uint8Array = new Uint8Array(0);
  /** The body being filled: `filled` of `buffer.length` (n + 2 for its CRLF) bytes so far. */
  private body: { line: string; buffer: Uint8Array; filled: number } | undefined;
  private readonly decoder = new TextDecoder();

  feed(chunk: Uint8Array): Response[] {
    const answers: Response[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.body) {
        const body = this.body;
        const take = Math.min(chunk.length - at, body.buffer.length - body.filled);
        body.buffer.set(chunk.subarray(at, at + take), body.filled);
        body.filled += take;
        at += take;
        if (body.filled < body.buffer.length) break;
        const n = body.buffer.length - 2;
        if (body.buffer[n] !== CR || body.buffer[n + 1] !== LF) throw new Error(`the ${n}-byte body of "${body.line}" is not followed by CRLF`);
        answers.push({ line: body.line, body: body.buffer.subarray(0, n) });
        this.body = undefined;
        continue;
      }
      const lf = chunk.indexOf(LF, at);
      const piece = chunk.subarray(at, lf < 0 ? chunk.length : lf + 1);
      at += piece.length;
      const bytes = this.partialLine.length === 0 ? piece : concat(this.partialLine, piece);
      if (lf < 0) {
        if (bytes.length > MAX_LINE_BYTES) throw new Error(`an answer line longer than ${MAX_LINE_BYTES} bytes`);
        this.partialLine = bytes === piece ? piece.slice() : bytes; // the caller may reuse its chunk
        continue;
      }
      this.partialLine = new Uint8Array(0);
      if (bytes.length < 2 || bytes[bytes.length - 2] !== CR) throw new Error("an answer line ended by LF without CR");
      const line = this.decoder.decode(bytes.subarray(0, bytes.length - 2));
      const withBody = WITH_BODY.exec(line);
      if (withBody) this.body = { line, buffer: new Uint8Array(Number(withBody[1]) + 2), filled: 0 };
      else answers.push({ line });
    }
    return answers;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * The flat YAML dictionary of stats, stats-job and stats-tube: "key: value"
 * lines after "---". Unquoted decimal values become numbers, except under
 * `textKeys` (a tube named "42" stays a string); quoted values are unquoted.
 */
export function parseYamlDict(body: Uint8Array, textKeys: ReadonlySet<string>): Record<string, string | number> {
  const dict: Record<string, string | number> = {};
  for (const line of yamlLines(body)) {
    const colon = line.indexOf(": ");
    const key = colon < 0 ? line.replace(/:$/, "") : line.slice(0, colon);
    const raw = colon < 0 ? "" : line.slice(colon + 2).trim();
    if (/^"(.*)"$/.test(raw)) dict[key] = raw.slice(1, -1);
    else if (!textKeys.has(key) && /^-?\d+(\.\d+)?$/.test(raw)) dict[key] = Number(raw);
    else dict[key] = raw;
  }
  return dict;
}

/** The YAML list of list-tubes and list-tubes-watched: "- name" lines after "---". */
export function parseYamlList(body: Uint8Array): string[] {
  return yamlLines(body).map((line) => line.replace(/^- /, ""));
}

function yamlLines(body: Uint8Array): string[] {
  return new TextDecoder()
    .decode(body)
    .split("\n")
    .map((line) => line.replace(/\r$/, ""))
    .filter((line) => line !== "" && line !== "---");
}

/**
 * Error answers any command can get, with what they mean and the DtError code
 * they become: the server's trouble is "unreachable" (try again, or another
 * server); a command it calls malformed is a bug in dt, "internal".
 */
export const SERVER_ERRORS: ReadonlyMap<string, { meaning: string; code: "unreachable" | "internal" }> = new Map([
  ["OUT_OF_MEMORY", { meaning: "is out of memory; retry later", code: "unreachable" }],
  ["INTERNAL_ERROR", { meaning: "hit an internal error", code: "unreachable" }],
  ["BAD_FORMAT", { meaning: "found the command malformed (a bug in dt)", code: "internal" }],
  ["UNKNOWN_COMMAND", { meaning: "does not know the command (a bug in dt, or not a beanstalkd server)", code: "internal" }],
  ["EXPECTED_CRLF", { meaning: "expected CRLF after the job body (a bug in dt)", code: "internal" }],
]);

// Answer checks: each throws a plain Error on an answer its command cannot get; the client turns it into DtError "internal" naming the command.

/** The argument after `word` ("USING x", "INSERTED 7"). */
export function expectWord(r: Response, word: string): string {
  if (!r.line.startsWith(`${word} `)) throw new Error(`expected ${word}`);
  return r.line.slice(word.length + 1);
}

/** true for `word` (TOUCHED, DELETED, …), false for NOT_FOUND. */
export function found(r: Response, word: string): boolean {
  if (r.line === word) return true;
  if (r.line === "NOT_FOUND") return false;
  throw new Error(`expected ${word}`);
}

/** The id and body of a RESERVED or FOUND answer. */
export function expectJob(r: Response, word: "RESERVED" | "FOUND"): { id: number; body: Uint8Array } {
  const id = /^(?:RESERVED|FOUND) (\d+) \d+$/.exec(r.line);
  if (!r.line.startsWith(word) || !id || !r.body) throw new Error(`expected ${word}`);
  return { id: Number(id[1]), body: r.body };
}

/** The body of an OK answer (stats, lists). */
export function expectData(r: Response): Uint8Array {
  if (!r.line.startsWith("OK ") || !r.body) throw new Error("expected OK");
  return r.body;
}

import { DtError } from "../../common/errors.ts";

/**
 * A parser for the Python-literal subset that `.isolate` files are written in
 * (isolate evaluated them with `eval` and no builtins; we never evaluate code).
 *
 * Supported: dicts (string keys only), lists, strings in either quote kind
 * with the usual escapes and `u`/`r` prefixes, adjacent string concatenation,
 * decimal ints, True/False/None, `#` comments, trailing commas.
 * Not supported, with a clear error: tuples, sets, floats, bytes, f-strings,
 * triple-quoted strings, names other than True/False/None.
 */

/** A Python dict as parsed: a Map, so keys like "__proto__" are plain data. */
export type PyDict = Map<string, PyValue>;

/** A parsed Python literal. `None` becomes `null`. */
export type PyValue = string | number | boolean | null | PyValue[] | PyDict;

/**
 * Largest input accepted, in characters. Generated .isolate files are a few
 * KB; 10 MiB leaves room for hand-written monsters while bounding memory.
 */
export const MAX_LITERAL_CHARS = 10 * 1024 * 1024;

/**
 * Deepest list/dict nesting accepted. .isolate files nest 5 levels; the cap
 * keeps the recursive parser far from the JS stack limit on hostile input.
 */
export const MAX_LITERAL_DEPTH = 100;

/**
 * Parses `text` as one Python literal. `source` (usually a file path) prefixes
 * error messages.
 *
 * @example
 *   parsePythonLiteral("{'files': ['a', 'b/',]}", "x.isolate")
 *   // Map { "files" => ["a", "b/"] }
 * @throws DtError invalid_input "<source>:<line>:<col>: expected … but found …"
 *   (1-based line and column); too_large for input over MAX_LITERAL_CHARS.
 */
export function parsePythonLiteral(text: string, source: string): PyValue {
  if (text.length > MAX_LITERAL_CHARS) {
    throw new DtError("too_large", `${source}: ${text.length} characters is more than the ${MAX_LITERAL_CHARS} allowed in a Python literal`);
  }
  return new LiteralParser(text, source).parseDocument();
}

/** Result of `scanStringLiteral`: the decoded value and the index after the closing quote, or why it failed and where. */
export type StringScan =
  | { ok: true; value: string; end: number }
  | { ok: false; message: string; at: number };

/**
 * Scans one quoted Python string literal (either quote kind, no prefix) that
 * starts at `text[start]`. Shared with the condition parser so both accept
 * the same strings. Never throws.
 */
export function scanStringLiteral(text: string, start: number, raw = false): StringScan {
  const quote = text[start];
  if (quote !== "'" && quote !== '"') return { ok: false, message: "expected a string", at: start };
  // Python reads three quotes as the start of a triple-quoted string, never
  // as an empty string followed by another; refuse rather than misread it.
  if (text[start + 1] === quote && text[start + 2] === quote) {
    return { ok: false, message: "triple-quoted strings are not supported", at: start };
  }
  const chunks: string[] = [];
  let i = start + 1;
  let runStart = i;
  while (true) {
    if (i >= text.length) {
      return { ok: false, message: `unterminated string: expected closing ${quote} but found end of input`, at: start };
    }
    const c = text[i];
    if (c === quote) {
      chunks.push(text.slice(runStart, i));
      return { ok: true, value: chunks.join(""), end: i + 1 };
    }
    if (c === "\n" || c === "\r") {
      return { ok: false, message: `unterminated string: expected closing ${quote} but found end of line`, at: i };
    }
    if (c !== "\\") {
      i++;
      continue;
    }
    chunks.push(text.slice(runStart, i));
    if (i + 1 >= text.length) {
      return { ok: false, message: `unterminated string: expected closing ${quote} but found end of input`, at: start };
    }
    const escape = decodeEscape(text, i, raw);
    if (!escape.ok) return escape;
    chunks.push(escape.value);
    i = escape.end;
    runStart = i;
  }
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = Object.freeze({
  "\\": "\\", "'": "'", '"': '"', a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v",
});

/** Decodes the escape sequence whose backslash is at `text[at]`. */
function decodeEscape(text: string, at: number, raw: boolean): StringScan {
  const next = text[at + 1];
  const newlineLength = next === "\r" && text[at + 2] === "\n" ? 2 : next === "\n" || next === "\r" ? 1 : 0;
  if (raw) {
    // In a raw string a backslash only stops the next character (a quote or a
    // newline) from ending the string; both characters stay in the value.
    const length = 1 + Math.max(newlineLength, 1);
    return { ok: true, value: text.slice(at, at + length), end: at + length };
  }
  if (newlineLength > 0) return { ok: true, value: "", end: at + 1 + newlineLength };
  if (Object.hasOwn(SIMPLE_ESCAPES, next)) return { ok: true, value: SIMPLE_ESCAPES[next], end: at + 2 };
  if (next >= "0" && next <= "7") {
    let end = at + 1;
    while (end < at + 4 && text[end] >= "0" && text[end] <= "7") end++;
    return { ok: true, value: String.fromCharCode(parseInt(text.slice(at + 1, end), 8)), end };
  }
  const hexDigits = next === "x" ? 2 : next === "u" ? 4 : next === "U" ? 8 : 0;
  if (hexDigits > 0) {
    const hex = text.slice(at + 2, at + 2 + hexDigits);
    if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== hexDigits) {
      return { ok: false, message: `invalid \\${next} escape: expected ${hexDigits} hex digits but found ${JSON.stringify(hex)}`, at };
    }
    const codePoint = parseInt(hex, 16);
    if (codePoint > 0x10ffff) return { ok: false, message: `invalid \\U escape: ${hex} is beyond U+10FFFF`, at };
    return { ok: true, value: String.fromCodePoint(codePoint), end: at + 2 + hexDigits };
  }
  if (next === "N") return { ok: false, message: "\\N{...} escapes are not supported", at };
  // Python keeps unknown escapes such as "\d" verbatim, backslash included.
  return { ok: true, value: "\\", end: at + 1 };
}

/** Where `index` falls in `text`, 1-based; the column counts code points. */
function lineAndColumn(text: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < index && i < text.length; i++) {
    const c = text[i];
    if (c === "\n" || (c === "\r" && text[i + 1] !== "\n")) {
      line++;
      lineStart = i + 1;
    }
  }
  let column = 1;
  for (const _ of text.slice(lineStart, index)) column++;
  return { line, column };
}

/** How the character(s) at `index` read in an error message. */
export function describeFound(text: string, index: number): string {
  if (index >= text.length) return "end of input";
  const word = /^[A-Za-z_0-9]+/.exec(text.slice(index, index + 40));
  if (word) return JSON.stringify(word[0]);
  const c = text[index];
  if (c === "\n" || c === "\r") return "end of line";
  if (c === "'" || c === '"') return "a string";
  return JSON.stringify(String.fromCodePoint(text.codePointAt(index)!));
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

function isNameChar(c: string | undefined): boolean {
  return c !== undefined && ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_" || isDigit(c));
}

/** The ASCII identifier starting at `text[start]`, or "" if none starts there. */
function nameAt(text: string, start: number): string {
  if (isDigit(text[start])) return "";
  let end = start;
  while (isNameChar(text[end])) end++;
  return text.slice(start, end);
}

/** One parse: holds the cursor, so the module itself keeps no state. */
class LiteralParser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly text: string, private readonly source: string) {}

  parseDocument(): PyValue {
    if (this.text.charCodeAt(0) === 0xfeff) this.pos = 1; // a UTF-8 BOM
    this.skipTrivia();
    const value = this.parseValue();
    this.skipTrivia();
    if (this.pos < this.text.length) this.fail("expected end of input");
    return value;
  }

  private fail(what: string, at = this.pos): never {
    const { line, column } = lineAndColumn(this.text, at);
    throw new DtError("invalid_input", `${this.source}:${line}:${column}: ${what} but found ${describeFound(this.text, at)}`);
  }

  private failAt(message: string, at: number): never {
    const { line, column } = lineAndColumn(this.text, at);
    throw new DtError("invalid_input", `${this.source}:${line}:${column}: ${message}`);
  }

  /**
   * Skips whitespace, comments and backslash line continuations. Outside
   * brackets a newline ends a Python expression, so there it is not skipped
   * (except at the very start and end of the document, handled by callers).
   */
  private skipTrivia(newlines = true): void {
    const text = this.text;
    while (this.pos < text.length) {
      const c = text[this.pos];
      if (c === " " || c === "\t" || c === "\f") this.pos++;
      else if ((c === "\n" || c === "\r") && newlines) this.pos++;
      else if (c === "#") {
        while (this.pos < text.length && text[this.pos] !== "\n" && text[this.pos] !== "\r") this.pos++;
      } else if (c === "\\" && (text[this.pos + 1] === "\n" || text[this.pos + 1] === "\r")) {
        this.pos += text[this.pos + 1] === "\r" && text[this.pos + 2] === "\n" ? 3 : 2;
      } else return;
    }
  }

  private parseValue(): PyValue {
    const c = this.text[this.pos];
    if (c === "{") return this.parseDict();
    if (c === "[") return this.parseList();
    if (c === "'" || c === '"') return this.parseStrings("");
    if (c === "-" || c === "+" || isDigit(c)) return this.parseInt();
    const name = nameAt(this.text, this.pos);
    if (name !== "") {
      const afterName = this.text[this.pos + name.length];
      if (afterName === "'" || afterName === '"') {
        this.pos += name.length;
        return this.parseStrings(name);
      }
      if (name === "True" || name === "False" || name === "None") {
        this.pos += name.length;
        return name === "None" ? null : name === "True";
      }
      this.fail("expected a value (names other than True, False and None are not allowed)");
    }
    if (c === "(") this.fail("expected a value (tuples and parentheses are not supported)");
    this.fail("expected a value");
  }

  /** One or more adjacent string literals, concatenated as Python does. */
  private parseStrings(firstPrefix: string): string {
    let prefix = firstPrefix;
    const parts: string[] = [];
    while (true) {
      const lower = prefix.toLowerCase();
      if (lower !== "" && lower !== "u" && lower !== "r") {
        this.failAt(`string prefix ${JSON.stringify(prefix)} is not supported (only u and r)`, this.pos - prefix.length);
      }
      const scan = scanStringLiteral(this.text, this.pos, lower === "r");
      if (!scan.ok) this.failAt(scan.message, scan.at);
      parts.push(scan.value);
      this.pos = scan.end;
      this.skipTrivia(this.depth > 0);
      const name = nameAt(this.text, this.pos);
      const next = this.text[this.pos + name.length];
      if (name.length > 2 || (next !== "'" && next !== '"')) return parts.join("");
      prefix = name;
      this.pos += name.length;
    }
  }

  private parseInt(): number {
    const start = this.pos;
    const negative = this.text[this.pos] === "-";
    if (this.text[this.pos] === "-" || this.text[this.pos] === "+") {
      this.pos++;
      this.skipTrivia(this.depth > 0);
    }
    let end = this.pos;
    while (isDigit(this.text[end])) end++;
    const digits = this.text.slice(this.pos, end);
    if (digits === "") this.fail("expected digits");
    if (digits.length > 1 && digits[0] === "0" && /[1-9]/.test(digits)) {
      this.failAt(`leading zeros are not allowed in the integer ${JSON.stringify(digits)}`, this.pos);
    }
    const magnitude = Number(digits);
    if (!Number.isSafeInteger(magnitude)) this.failAt(`integer ${digits} is too large`, start);
    this.pos += digits.length;
    return negative && magnitude !== 0 ? -magnitude : magnitude;
  }

  private enter(): void {
    this.depth++;
    if (this.depth > MAX_LITERAL_DEPTH) this.failAt(`lists and dicts are nested deeper than ${MAX_LITERAL_DEPTH} levels`, this.pos);
    this.pos++; // the opening bracket
    this.skipTrivia();
  }

  private parseList(): PyValue[] {
    this.enter();
    const items: PyValue[] = [];
    while (this.text[this.pos] !== "]") {
      items.push(this.parseValue());
      this.skipTrivia();
      if (this.text[this.pos] === ",") {
        this.pos++;
        this.skipTrivia();
      } else if (this.text[this.pos] !== "]") this.fail('expected "," or "]"');
    }
    this.pos++;
    this.depth--;
    return items;
  }

  private parseDict(): PyDict {
    this.enter();
    const dict: PyDict = new Map();
    while (this.text[this.pos] !== "}") {
      const keyStart = this.pos;
      const key = this.parseValue();
      if (typeof key !== "string") this.failAt("dict keys must be strings", keyStart);
      this.skipTrivia();
      if (this.text[this.pos] !== ":") this.fail('expected ":"');
      this.pos++;
      this.skipTrivia();
      // As in Python, a repeated key keeps its last value.
      dict.set(key, this.parseValue());
      this.skipTrivia();
      if (this.text[this.pos] === ",") {
        this.pos++;
        this.skipTrivia();
      } else if (this.text[this.pos] !== "}") this.fail('expected "," or "}"');
    }
    this.pos++;
    this.depth--;
    return dict;
  }
}

/**
 * Where JSON text goes wrong, for error messages: JSON.parse in Bun says
 * what it did not expect but not where (`JSON Parse error: Unexpected
 * identifier "x"`), and in a 300-line tasks file "where" is what a user
 * needs. Called only after JSON.parse has refused the text, so it costs
 * nothing on good input.
 */

export interface JsonSyntaxProblem {
  /** Index into the text (UTF-16 code units) where it goes wrong. */
  offset: number;
  /** 1-based line and column of `offset`. */
  line: number;
  column: number;
  problem: string;
}

/** Deeper than any document dt reads, and far within the call stack: only the nesting limit of strict-json is reached before it. */
const MAX_DEPTH = 1_000;

/** Characters pasted from a word processor or a web page that look like JSON's and are not. */
const LOOKALIKES: Record<string, string> = {
  "\ufeff": "a byte order mark, allowed only at the very start",
  "\u00a0": "a no-break space; JSON's spaces are plain",
  "\u200b": "a zero-width space",
  "\u201c": 'a curly quote; JSON strings take straight double quotes "',
  "\u201d": 'a curly quote; JSON strings take straight double quotes "',
  "\u2018": 'a curly quote; JSON strings take straight double quotes "',
  "\u2019": 'a curly quote; JSON strings take straight double quotes "',
};

/** The first problem found; thrown from deep in the descent straight to run(). */
class Found {
  constructor(
    readonly at: number,
    readonly problem: string,
  ) {}
}

class Locate {
  private i = 0;
  /** A string without escapes or control characters, the common case, in one linear regex step. */
  private readonly plainString = /"[^"\\\u0000-\u001f]*"/y;
  /** A JSON number, matched in place: a slice per number made a body of numbers cost 7x JSON.parse. */
  private readonly number = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
  private readonly hex = /[0-9a-fA-F]{4}/y;
  constructor(private readonly text: string) {}

  private fail(problem: string, at = this.i): never {
    throw new Found(at, problem);
  }

  private shown(): string {
    if (this.i >= this.text.length) return "the end of the text";
    const word = /^[A-Za-z_$][\w$]*/.exec(this.text.slice(this.i, this.i + 40))?.[0];
    if (word) return JSON.stringify(word);
    const c = String.fromCodePoint(this.text.codePointAt(this.i)!);
    if (c === "'") return `"'"`;
    if (c < " ") return JSON.stringify(c);
    // A character that cannot be seen, or looks like a space or a quote JSON has, is named by its code.
    const code = `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
    if (LOOKALIKES[c]) return `${code} (${LOOKALIKES[c]})`;
    if (/[\p{Z}\p{C}]/u.test(c)) return code;
    return `'${c}'`;
  }

  private ws(): void {
    // A plain loop: a regex step per call cost more than the rest on a body of short lines.
    for (;;) {
      const c = this.text.charCodeAt(this.i);
      if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return;
      this.i++;
    }
  }

  private string(): void {
    // The loop below is for strings with escapes, and for finding what is wrong with one.
    this.plainString.lastIndex = this.i;
    if (this.plainString.test(this.text)) {
      this.i = this.plainString.lastIndex;
      return;
    }
    const start = this.i++;
    for (;;) {
      if (this.i >= this.text.length) this.fail("a string that is never closed (a \" is missing)", start);
      const c = this.text.charCodeAt(this.i);
      if (c === 34) {
        this.i++;
        return;
      }
      if (c < 0x20) this.fail(c === 10 || c === 13 ? "a line break inside a string (write \\n, or close the string)" : "a control character inside a string (escape it as \\u00XX)");
      if (c === 92) {
        const e = this.text[this.i + 1];
        if (e === "u") {
          this.hex.lastIndex = this.i + 2;
          if (!this.hex.test(this.text)) this.fail("a \\u escape needs four hex digits");
          this.i += 6;
          continue;
        }
        if (e === undefined || !"\"\\/bfnrt".includes(e)) this.fail(`an escape JSON does not have: \\${e ?? ""}`);
        this.i += 2;
        continue;
      }
      this.i++;
    }
  }

  private value(depth: number): void {
    this.ws();
    if (depth > MAX_DEPTH) this.fail("nested too deep");
    const c = this.text[this.i];
    if (c === "{") return this.container(depth, "}");
    if (c === "[") return this.container(depth, "]");
    if (c === '"') return this.string();
    this.number.lastIndex = this.i;
    if ((c === "-" || (c! >= "0" && c! <= "9")) && this.number.test(this.text)) {
      this.i = this.number.lastIndex;
      const after = this.text.charCodeAt(this.i);
      // A digit, '.', 'e' or 'E' right after the longest number JSON allows: 01, 1., 1e.
      if ((after >= 48 && after <= 57) || after === 46 || after === 101 || after === 69) this.fail("a number JSON does not allow (no leading zeros, digits after a '.', an exponent after 'e')");
      return;
    }
    for (const literal of ["true", "false", "null"]) {
      if (this.text.startsWith(literal, this.i)) {
        this.i += literal.length;
        return;
      }
    }
    if (c === "-") this.fail("a number JSON does not allow");
    this.fail(`a value was expected, found ${this.shown()}${c === "'" ? " (JSON strings take double quotes)" : ""}`);
  }

  private container(depth: number, close: "}" | "]"): void {
    this.i++;
    this.ws();
    if (this.text[this.i] === close) {
      this.i++;
      return;
    }
    for (;;) {
      if (close === "}") {
        this.ws();
        if (this.text[this.i] !== '"') this.fail(`a property name in double quotes was expected, found ${this.shown()}${this.text[this.i] === close ? " (a comma before it is one too many)" : ""}`);
        this.string();
        this.ws();
        if (this.text[this.i] !== ":") this.fail(`':' was expected after the property name, found ${this.shown()}`);
        this.i++;
      }
      this.value(depth + 1);
      this.ws();
      const next = this.text[this.i];
      if (next === close) {
        this.i++;
        return;
      }
      if (next !== ",") this.fail(`',' or '${close}' was expected, found ${this.shown()}`);
      this.i++;
      this.ws();
      if (close === "]" && this.text[this.i] === "]") this.fail("a value was expected, found ']' (a comma before it is one too many)");
    }
  }

  /** The first problem in the text, or undefined when it is JSON. */
  run(): Found | undefined {
    try {
      this.value(0);
      this.ws();
      if (this.i < this.text.length) this.fail(`the JSON value ends before ${this.shown()}`);
      return undefined;
    } catch (err) {
      if (err instanceof Found) return err;
      throw err;
    }
  }
}

/**
 * The first syntax error in `text`, with its line and column; undefined when
 * the text is JSON.
 *
 * @example jsonSyntaxProblem('{"a": 1,\n}') // { line: 2, column: 1, problem: "a property name in double quotes was expected, found \"}\" …" }
 */
export function jsonSyntaxProblem(text: string): JsonSyntaxProblem | undefined {
  const found = new Locate(text).run();
  if (!found) return undefined;
  // Lines counted in place: splitting made a string per line of the text.
  let line = 1;
  let lineStart = 0;
  for (let nl = text.indexOf("\n"); nl >= 0 && nl < found.at; nl = text.indexOf("\n", nl + 1)) {
    line++;
    lineStart = nl + 1;
  }
  return { offset: found.at, line, column: found.at - lineStart + 1, problem: found.problem };
}

/** Longest part of a line an excerpt shows; a minified document is one long line. */
const EXCERPT_CHARS = 100;

/**
 * The line holding `offset` and a caret under it, indented two spaces:
 *
 * ```
 *   "timeout": 30
 *                ^
 * ```
 */
export function caretExcerpt(text: string, offset: number): string {
  const lineStart = text.lastIndexOf("\n", offset - 1) + 1;
  let lineEnd = text.indexOf("\n", offset);
  if (lineEnd < 0) lineEnd = text.length;
  const from = Math.max(lineStart, offset - EXCERPT_CHARS / 2);
  const to = Math.min(lineEnd, from + EXCERPT_CHARS);
  const line = text.slice(from, to).replace(/\r$/, "");
  // Tabs stay tabs under the caret, so it lines up whatever the tab width.
  const pad = text.slice(from, offset).replace(/[^\t]/g, " ");
  return `  ${from > lineStart ? "…" : ""}${line}${to < lineEnd ? "…" : ""}\n  ${from > lineStart ? " " : ""}${pad}^`;
}

import { expect, test } from "bun:test";
import { caretExcerpt, jsonSyntaxProblem } from "../../src/common/json-syntax.ts";
import { parseStrictJson } from "../../src/common/strict-json.ts";
import { seededRandom } from "../helpers/prng.ts";

test.each([
  ['{"tasks": [\n  {"a": 1,}\n]}', 2, 11, "a property name in double quotes was expected, found '}' (a comma before it is one too many)"],
  ['{"tasks": [1,]}', 1, 14, "a value was expected, found ']' (a comma before it is one too many)"],
  ["{'a': 1}", 1, 2, `a property name in double quotes was expected, found "'"`],
  ['{"a": NaN}', 1, 7, 'a value was expected, found "NaN"'],
  ['{"a": "x\ny"}', 1, 9, "a line break inside a string (write \\n, or close the string)"],
  ['{"a": 1}\n}', 2, 1, "the JSON value ends before '}'"],
  ['{"a" 1}', 1, 6, `':' was expected after the property name, found '1'`],
  ['{"a": [1 2]}', 1, 10, `',' or ']' was expected, found '2'`],
  ['{"a": "unclosed}', 1, 7, 'a string that is never closed (a " is missing)'],
  ['{"a": "\\q"}', 1, 8, "an escape JSON does not have: \\q"],
  // Characters that cannot be seen, or pass for JSON's, are named by their code.
  ['{ \ufeff"a": 1}', 1, 3, "a property name in double quotes was expected, found U+FEFF (a byte order mark, allowed only at the very start)"],
  ['{"a":\u00a01}', 1, 6, "a value was expected, found U+00A0 (a no-break space; JSON's spaces are plain)"],
  ['{"a": \u201cx\u201d}', 1, 7, 'a value was expected, found U+201C (a curly quote; JSON strings take straight double quotes ")'],
  ['[1, \u2028]', 1, 5, "a value was expected, found U+2028"],
  ['[1, \ud83d\ude00]', 1, 5, "a value was expected, found '\u{1f600}'"],
])("%j: line %d, column %d: %s", (text, line, column, problem) => {
  expect(jsonSyntaxProblem(text)).toMatchObject({ line, column, problem });
});

test("a file's syntax error reads file:line:column, with the line and a caret under the place (tabs kept)", () => {
  const text = '{\n\t"tasks": [\n\t\t{"isolate_hash": "x" "description": "y"}\n\t]\n}\n';
  expect(() => parseStrictJson(text, { what: "task file", file: "tasks.json" })).toThrow(
    [
      "tasks.json:3:24: not valid JSON: ',' or '}' was expected, found '\"'",
      '  \t\t{"isolate_hash": "x" "description": "y"}',
      "  \t\t                     ^",
    ].join("\n"),
  );
  // A request names the document, line and column, without the excerpt.
  expect(() => parseStrictJson('{"a":}', { what: "POST jobs body" })).toThrow('POST jobs body is not valid JSON: line 1, column 6: a value was expected, found \'}\'');
});

test("a long line is cut around the place", () => {
  const text = `{"a": [${"1,".repeat(200)}x]}`;
  const excerpt = caretExcerpt(text, text.indexOf("x"));
  const [line, caret] = excerpt.split("\n");
  expect(line!.length).toBeLessThan(110);
  expect(line![caret!.indexOf("^")]).toBe("x");
});

test("a leading byte order mark is dropped; one anywhere else is not JSON", () => {
  expect(parseStrictJson('\ufeff{"a": 1}', { what: "x" })).toEqual({ a: 1 });
  expect(() => parseStrictJson('{"a": \ufeff1}', { what: "x" })).toThrow("line 1, column 7");
});

/**
 * The locator agrees with JSON.parse on what is JSON, on valid documents
 * and on each with one character changed, dropped or added; and it ends on
 * any input.
 */
test("jsonSyntaxProblem finds a problem exactly when JSON.parse refuses the text", () => {
  const random = seededRandom(12);
  const alphabet = ['"', "{", "}", "[", "]", ",", ":", "\\", "0", "1", "-", ".", "e", "t", "n", " ", "\n", "\u0001", "a", "'", "\ufeff"];
  const seeds = [
    '{"tasks": [{"isolate_hash": "ab", "description": "t \\"q\\" \\u00e9", "timeout": -1.5e3, "env": {}, "x": [true, false, null]}]}',
    '[0, -0, 1e5, 2.5E-3, "", [], {}]',
    '"\\ud800"',
  ];
  let checked = 0;
  for (const seed of seeds) {
    expect(jsonSyntaxProblem(seed)).toBeUndefined();
    for (let n = 0; n < 3000; n++) {
      const at = Math.floor(random() * (seed.length + 1));
      const c = alphabet[Math.floor(random() * alphabet.length)]!;
      const kind = random();
      const text = kind < 0.33 ? seed.slice(0, at) + c + seed.slice(at + 1) : kind < 0.66 ? seed.slice(0, at) + seed.slice(at + 1) : seed.slice(0, at) + c + seed.slice(at);
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      const found = jsonSyntaxProblem(text);
      expect({ text, found: found !== undefined }).toEqual({ text, found: !valid });
      checked++;
    }
  }
  expect(checked).toBe(9000);
});

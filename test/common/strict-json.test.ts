import { describe, expect, test } from "bun:test";
import { isDtError } from "../../src/common/errors.ts";
import { MAX_JSON_DEPTH, fieldPath, parseStrictJson } from "../../src/common/strict-json.ts";

function problemOf(text: string, root = ""): string {
  try {
    parseStrictJson(text, { what: "doc", root });
  } catch (err) {
    expect(isDtError(err, "invalid_input")).toBe(true);
    return (err as Error).message;
  }
  throw new Error(`accepted ${text.slice(0, 80)}`);
}

describe("parseStrictJson", () => {
  test("parses what JSON.parse parses when no key repeats", () => {
    const text = JSON.stringify({ a: [1, { a: 2, b: "a" }, []], b: { a: { a: "\"a\": 1, \"a\": 2" } }, "\\": 1, c: null });
    expect(parseStrictJson(text, { what: "doc" })).toEqual(JSON.parse(text));
    expect(parseStrictJson('  [ {"x":1} , {"x":1} ]  ', { what: "doc" })).toEqual([{ x: 1 }, { x: 1 }]);
  });

  test("names the path of a repeated key, at any depth and in arrays", () => {
    expect(problemOf('{"a":1,"a":2}')).toBe("doc: a: appears twice in the same object; JSON readers disagree on which one counts, so dt takes neither");
    expect(problemOf('{"tasks":[{"t":1},{"b":[1,2],"t":1,"x":{"y":1},"t":2}]}')).toStartWith("doc: tasks[1].t: appears twice");
    expect(problemOf('{"tasks":[1,2]}'.replace("]", ',{"t":1,"t":1}]'), "job_json")).toStartWith("job_json.tasks[2].t: appears twice");
    expect(problemOf('{"files":{"a/b":{},"c":{},"a/b":{}}}')).toStartWith('doc: files["a/b"]: appears twice');
  });

  test("compares keys by value, escapes decoded", () => {
    expect(problemOf('{"files":{"a\\u002fb":1,"a/b":2}}')).toStartWith('doc: files["a/b"]: appears twice');
    expect(problemOf('{"\\"":1,"\\u0022":2}')).toStartWith('doc: ["\\""]: appears twice');
  });

  test("a repeat beyond the first few keys of a big object is found (the keys move to a set)", () => {
    const entries = Array.from({ length: 1000 }, (_, i) => `"k${i}":${i}`);
    entries.push('"k500":0');
    expect(problemOf(`{${entries.join(",")}}`)).toStartWith("doc: k500: appears twice");
  });

  test("refuses nesting deeper than the limit before parsing, naming where", () => {
    expect(parseStrictJson(`${"[".repeat(MAX_JSON_DEPTH)}${"]".repeat(MAX_JSON_DEPTH)}`, { what: "doc" })).toBeArray();
    expect(problemOf(`{"a":${"[".repeat(MAX_JSON_DEPTH)}${"]".repeat(MAX_JSON_DEPTH)}}`)).toMatch(/^doc: a(\[0\])+: nested deeper than 32 levels$/);
    // Ten million levels, which JSON.parse alone takes seconds over.
    expect(problemOf(`${"[".repeat(10_000_000)}${"]".repeat(10_000_000)}`)).toContain("nested deeper than");
  });

  test("text that is not JSON is JSON.parse's error, naming the document; odd text never hangs the scan", () => {
    expect(problemOf('{"a": NaN}')).toStartWith("doc is not valid JSON");
    const junk = ['{"a', '"\\', "}}}]]]", '{"a":1,"a"', "[1,,", '{"\\u00zz":1}', ""];
    for (const text of junk) expect(problemOf(text)).toContain("is not valid JSON");
  });
});

test("fieldPath writes identifiers with a dot and other keys in brackets", () => {
  expect(fieldPath("", "tasks")).toBe("tasks");
  expect(fieldPath("tasks[0].env", "FOO")).toBe("tasks[0].env.FOO");
  expect(fieldPath("tasks[0].env", "A=B")).toBe('tasks[0].env["A=B"]');
  expect(fieldPath("", "a b")).toBe('["a b"]');
  expect(fieldPath("x", "k".repeat(100))).toBe(`x.${"k".repeat(80)}…`);
});

test("maxKeys: an object with more keys is too_large, named by its path, before the rest is read; at the bound it parses", () => {
  expect(parseStrictJson('{"files": {"a": 1, "b": 2}}', { what: "m", maxKeys: 2 })).toEqual({ files: { a: 1, b: 2 } });
  let err: unknown;
  try {
    // Past the third key the text is not even JSON: the scan stopped before it, so the bound is what is reported.
    parseStrictJson('{"files": {"a": 1, "b": 2, "c": 3, !!!', { what: "m", maxKeys: 2 });
  } catch (e) {
    err = e;
  }
  expect(isDtError(err, "too_large")).toBe(true);
  expect((err as Error).message).toBe("m: files: an object has more than 2 keys");
  expect(() => parseStrictJson('{"a": 1, "b": 2, "c": 3}', { what: "m", maxKeys: 2 })).toThrow("m: (top level): an object has more than 2 keys");
});

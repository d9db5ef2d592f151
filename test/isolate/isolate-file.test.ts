import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { DtError, type DtErrorCode } from "../../src/common/errors.ts";
import { conditionMatches, MAX_CONDITION_DEPTH, parseCondition } from "../../src/isolate/isolate-file/conditions.ts";
import { loadIsolate, type IsolateVariables } from "../../src/isolate/isolate-file/load.ts";
import { MAX_LITERAL_CHARS, MAX_LITERAL_DEPTH, parsePythonLiteral } from "../../src/isolate/isolate-file/python-literal.ts";

/** Runs `fn` and returns the DtError it must throw (sync or async), checking its code. */
async function dtErrorOf(fn: () => unknown, code: DtErrorCode): Promise<DtError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DtError);
    expect((err as DtError).code).toBe(code);
    return err as DtError;
  }
  throw new Error("expected a DtError but nothing was thrown");
}

function literalError(text: string): string {
  try {
    parsePythonLiteral(text, "t.isolate");
  } catch (err) {
    expect(err).toBeInstanceOf(DtError);
    expect((err as DtError).code).toBe("invalid_input");
    return (err as DtError).message;
  }
  throw new Error(`expected ${JSON.stringify(text)} to fail to parse`);
}

describe("parsePythonLiteral", () => {
  test("parses dicts, lists, strings, ints, True/False/None with comments and trailing commas", () => {
    const text = [
      "# a comment at the top",
      "{",
      "  'list': [1, -2, + 3, - 4, 0, -0,],  # trailing comma",
      '  "flags": [True, False, None],',
      "  'nested': {'inner': [[], {}, ['x',]],},",
      "  'empty': '',\r\n",
      "}",
      "",
    ].join("\n");
    const value = parsePythonLiteral(text, "t.isolate");
    expect(value).toBeInstanceOf(Map);
    const dict = value as Map<string, unknown>;
    expect([...dict.keys()]).toEqual(["list", "flags", "nested", "empty"]);
    expect(dict.get("list")).toEqual([1, -2, 3, -4, 0, 0]);
    expect(Object.is((dict.get("list") as number[])[5], -0)).toBe(false);
    expect(dict.get("flags")).toEqual([true, false, null]);
    expect(dict.get("nested")).toEqual(new Map<string, unknown>([["inner", [[], new Map(), ["x"]]]]));
    expect(dict.get("empty")).toBe("");
  });

  test("decodes escapes in both quote kinds", () => {
    const text = String.raw`['a\nb\tc', "q\"q", 'q\'q', '\\', '\x41\101\u00e9\U0001F600', '\a\b\f\v\r\0', '\d\w']`;
    expect(parsePythonLiteral(text, "t")).toEqual([
      "a\nb\tc", 'q"q', "q'q", "\\", "AAé😀", "\x07\b\f\v\r\0", "\\d\\w",
    ]);
  });

  test("joins a backslash-newline inside a string and between tokens", () => {
    expect(parsePythonLiteral("'ab\\\ncd'", "t")).toBe("abcd");
    expect(parsePythonLiteral("'ab\\\r\ncd'", "t")).toBe("abcd");
    expect(parsePythonLiteral("-\\\n5", "t")).toBe(-5);
  });

  test("concatenates adjacent string literals, also across lines and comments inside brackets", () => {
    expect(parsePythonLiteral(`'a' "b"'c'`, "t")).toBe("abc");
    expect(parsePythonLiteral("['x'  # part one\n 'y',\n 'z']", "t")).toEqual(["xy", "z"]);
    // Outside brackets a newline ends the expression, as in Python.
    expect(literalError("'a'\n'b'")).toBe('t.isolate:2:1: expected end of input but found a string');
  });

  test("accepts u and r prefixes and refuses bytes and f-strings", () => {
    expect(parsePythonLiteral(String.raw`[u'x', U"y", r'a\nb', R"c\"d", 'p' u'q']`, "t")).toEqual(["x", "y", "a\\nb", 'c\\"d', "pq"]);
    expect(literalError("b'x'")).toBe('t.isolate:1:1: string prefix "b" is not supported (only u and r)');
    expect(literalError("['a' f'x']")).toBe('t.isolate:1:6: string prefix "f" is not supported (only u and r)');
  });

  test("keeps keys such as __proto__ as plain data and keeps the last of repeated keys", () => {
    const value = parsePythonLiteral("{'__proto__': {'polluted': 1}, 'constructor': 2, 'k': 1, 'k': 3}", "t") as Map<string, unknown>;
    expect(value.get("__proto__")).toEqual(new Map([["polluted", 1]]));
    expect(value.get("constructor")).toBe(2);
    expect(value.get("k")).toBe(3);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("skips a UTF-8 byte order mark and surrounding blank lines", () => {
    expect(parsePythonLiteral("\uFEFF\n\n  [1]\n\n# end\n", "t")).toEqual([1]);
  });

  test.each([
    ["{'a': 1\n 'b': 2}", 't.isolate:2:2: expected "," or "}" but found a string'],
    ["{\n  'a' 1}", 't.isolate:2:7: expected ":" but found "1"'],
    ["[1,\n  2\n  3]", 't.isolate:3:3: expected "," or "]" but found "3"'],
    ["[1,\r\n  2 3]", 't.isolate:2:5: expected "," or "]" but found "3"'],
    ["['abc\n']", "t.isolate:1:6: unterminated string: expected closing ' but found end of line"],
    ['[\n  "abc', 't.isolate:2:3: unterminated string: expected closing " but found end of input'],
    ["", "t.isolate:1:1: expected a value but found end of input"],
    ["[1,", "t.isolate:1:4: expected a value but found end of input"],
    ["[,]", 't.isolate:1:2: expected a value but found ","'],
    ["{'a': foo}", 't.isolate:1:7: expected a value (names other than True, False and None are not allowed) but found "foo"'],
    ["('a', 'b')", 't.isolate:1:1: expected a value (tuples and parentheses are not supported) but found "("'],
    ["1.5", 't.isolate:1:2: expected end of input but found "."'],
    ["{1: 2}", "t.isolate:1:2: dict keys must be strings"],
    ["[007]", 't.isolate:1:2: leading zeros are not allowed in the integer "007"'],
    ["-x", 't.isolate:1:2: expected digits but found "x"'],
    ["123456789012345678901", "t.isolate:1:1: integer 123456789012345678901 is too large"],
    ["'\\x4g'", 't.isolate:1:2: invalid \\x escape: expected 2 hex digits but found "4g"'],
    ["'\\U00110000'", "t.isolate:1:2: invalid \\U escape: 00110000 is beyond U+10FFFF"],
    ["'\\N{DASH}'", "t.isolate:1:2: \\N{...} escapes are not supported"],
    ["r'\\'", "t.isolate:1:2: unterminated string: expected closing ' but found end of input"],
    // Python reads three quotes as a triple-quoted string, not as '' followed by a string.
    ["['''abc''']", "t.isolate:1:2: triple-quoted strings are not supported"],
    // Columns count code points, so an emoji is one column.
    ["['😀', x]", 't.isolate:1:7: expected a value (names other than True, False and None are not allowed) but found "x"'],
    ["[1] @", 't.isolate:1:5: expected end of input but found "@"'],
  ])("reports %j at the exact line and column", (text, message) => {
    expect(literalError(text)).toBe(message);
  });

  test(`accepts ${MAX_LITERAL_DEPTH} levels of nesting and refuses one more`, () => {
    const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels);
    expect(() => parsePythonLiteral(deep(MAX_LITERAL_DEPTH), "t")).not.toThrow();
    expect(literalError(deep(MAX_LITERAL_DEPTH + 1))).toBe(
      `t.isolate:1:${MAX_LITERAL_DEPTH + 1}: lists and dicts are nested deeper than ${MAX_LITERAL_DEPTH} levels`,
    );
    // Far deeper than the JS stack could recurse: still a DtError, not a RangeError.
    expect(literalError("{'a':".repeat(200_000))).toContain("nested deeper than");
  });

  test("refuses input over the size limit", async () => {
    const err = await dtErrorOf(() => parsePythonLiteral(" ".repeat(MAX_LITERAL_CHARS + 1), "big.isolate"), "too_large");
    expect(err.message).toContain("big.isolate");
  });
});

describe("conditions", () => {
  const vars = new Map([["OS", "linux"], ["CPU", "x64"]]);
  const matches = (expr: string) => conditionMatches(expr, vars, "t.isolate conditions[0][0]");

  test("compares with == and != in both quote kinds", () => {
    expect(matches('OS=="linux"')).toBe(true);
    expect(matches("OS=='mac'")).toBe(false);
    expect(matches('OS!="mac"')).toBe(true);
    expect(matches("  OS != 'linux'  ")).toBe(false);
  });

  test("an undefined variable makes == false and != true", () => {
    expect(matches('GPU=="nvidia"')).toBe(false);
    expect(matches('GPU!="nvidia"')).toBe(true);
  });

  test("and binds tighter than or; parentheses group", () => {
    // Read as OS=="mac" or (OS=="linux" and CPU=="arm") → false.
    expect(matches('OS=="mac" or OS=="linux" and CPU=="arm"')).toBe(false);
    // Read as (OS=="linux" or OS=="mac") and CPU=="x64" → true, and with "or" first → true.
    expect(matches('OS=="linux" or OS=="mac" and CPU=="arm"')).toBe(true);
    expect(matches('(OS=="mac" or OS=="linux") and CPU=="arm"')).toBe(false);
    expect(matches('(OS=="mac" or OS=="linux") and (CPU=="arm" or (CPU=="x64"))')).toBe(true);
    expect(parseCondition('A=="1" or B=="2" and C!="3"', "t")).toEqual({
      kind: "or",
      operands: [
        { kind: "compare", variable: "A", op: "==", value: "1" },
        { kind: "and", operands: [{ kind: "compare", variable: "B", op: "==", value: "2" }, { kind: "compare", variable: "C", op: "!=", value: "3" }] },
      ],
    });
  });

  test.each([
    ['OS==', 'expected a quoted string but found end of input at column 5'],
    ['OS="linux"', 'expected a variable name, a string, an operator or a parenthesis but found "=" at column 3'],
    ['OS=="linux" and', 'expected a variable name or "(" but found end of input at column 16'],
    ['(OS=="linux"', 'expected ")" but found end of input at column 13'],
    ['OS=="linux" CPU=="x64"', 'expected "and", "or" or the end of the condition but found "CPU" at column 13'],
    ['OS==linux', 'expected a quoted string but found "linux" at column 5'],
    ['"linux"==OS', 'expected a variable name or "(" but found a string at column 1'],
    ['OS=="linux', 'unterminated string: expected closing " but found end of input at column 5'],
    ['', 'expected a variable name or "(" but found end of input at column 1'],
  ])("reports the file, the expression and the column for %j", (expr, detail) => {
    try {
      matches(expr);
      throw new Error("expected a syntax error");
    } catch (err) {
      expect(err).toBeInstanceOf(DtError);
      expect((err as DtError).message).toBe(`t.isolate conditions[0][0]: invalid condition ${JSON.stringify(expr)}: ${detail}`);
    }
  });

  test(`refuses parentheses nested deeper than ${MAX_CONDITION_DEPTH}`, () => {
    const nested = (levels: number) => "(".repeat(levels) + 'OS=="linux"' + ")".repeat(levels);
    expect(matches(nested(MAX_CONDITION_DEPTH))).toBe(true);
    expect(() => matches(nested(MAX_CONDITION_DEPTH + 1))).toThrow("parentheses nested deeper than 100 levels");
    expect(() => matches("(".repeat(100_000))).toThrow(DtError);
  });
});

describe("loadIsolate", () => {
  let root: string;
  const noVars: IsolateVariables = { pathVariables: {}, configVariables: {} };

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), "dt-isolate-file-"));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Writes `files` (relative path → content) under a fresh dir and returns its absolute path. */
  let caseCounter = 0;
  async function writeTree(files: Record<string, string | Uint8Array>): Promise<string> {
    const dir = path.join(root, `case-${++caseCounter}`);
    for (const [relative, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, relative)), { recursive: true });
      await writeFile(path.join(dir, relative), content);
    }
    return dir;
  }

  test("loads Kudu's generated pprint format", async () => {
    const dir = await writeTree({
      "src/kudu/util/foo-test.isolate": `{'variables': {'command': ['../../build-support/run_dist_test.py',
                           '--',
                           '-e',
                           'KUDU_TEST_TIMEOUT=870',
                           '../../build/latest/bin/foo-test'],
               'files': ['../../build/latest/bin/foo-test',
                         '../../build/latest/lib/',
                         '../../build-support/run_dist_test.py']}}
`,
    });
    const spec = await loadIsolate(path.join(dir, "src/kudu/util/foo-test.isolate"), noVars);
    expect(spec).toEqual({
      isolatePath: path.join(dir, "src/kudu/util/foo-test.isolate"),
      command: ["../../build-support/run_dist_test.py", "--", "-e", "KUDU_TEST_TIMEOUT=870", "../../build/latest/bin/foo-test"],
      commandDir: path.join(dir, "src/kudu/util"),
      files: [
        path.join(dir, "src/build-support/run_dist_test.py"),
        path.join(dir, "src/build/latest/bin/foo-test"),
        path.join(dir, "src/build/latest/lib") + "/",
      ],
      readOnly: undefined,
    });
  });

  test("resolves a relative isolate path, normalizes, sorts and deduplicates files", async () => {
    const dir = await writeTree({
      "t.isolate": "{'variables': {'files': ['b', 'a/../b', './a/', 'a/', 'c/./d', '.', './'], 'read_only': 2}}",
    });
    const spec = await loadIsolate(path.relative(process.cwd(), path.join(dir, "t.isolate")), noVars);
    expect(spec.isolatePath).toBe(path.join(dir, "t.isolate"));
    expect(spec.files).toEqual([dir, `${dir}/`, `${dir}/a/`, `${dir}/b`, `${dir}/c/d`]);
    expect(spec.command).toEqual([]);
    expect(spec.commandDir).toBe(dir);
    expect(spec.readOnly).toBe(2);
  });

  test("applies matching conditions: files are added, command and read_only override the unconditional ones", async () => {
    const dir = await writeTree({
      "t.isolate": `{
        'variables': {'command': ['base'], 'files': ['common'], 'read_only': 1},
        'conditions': [
          ['OS=="linux"', {'variables': {'command': ['linux-first'], 'files': ['linux/'], 'read_only': 0}}],
          ['OS=="linux" and CPU=="arm"', {'variables': {'files': ['arm']}}],
          ['OS=="mac" or OS=="linux"', {'variables': {'command': ['posix-second'], 'read_only': 2}}],
          ['OS=="win"', {'variables': {'files': ['<(UNDEFINED_ON_LINUX)']}}],
        ],
      }`,
    });
    const linux = await loadIsolate(path.join(dir, "t.isolate"), noVars);
    expect(linux.command).toEqual(["linux-first"]); // the first matching condition wins
    expect(linux.readOnly).toBe(0);
    expect(linux.files).toEqual([`${dir}/common`, `${dir}/linux/`]);

    const arm = await loadIsolate(path.join(dir, "t.isolate"), { pathVariables: {}, configVariables: { CPU: "arm" } });
    expect(arm.files).toEqual([`${dir}/arm`, `${dir}/common`, `${dir}/linux/`]);

    const mac = await loadIsolate(path.join(dir, "t.isolate"), { pathVariables: {}, configVariables: { OS: "mac" } });
    expect(mac.command).toEqual(["posix-second"]);
    expect(mac.readOnly).toBe(2);
    expect(mac.files).toEqual([`${dir}/common`]);

    const other = await loadIsolate(path.join(dir, "t.isolate"), { pathVariables: {}, configVariables: { OS: "aix" } });
    expect(other.command).toEqual(["base"]);
    expect(other.readOnly).toBe(1);
  });

  test("processes includes relative to the including file; files resolve against their own file's dir", async () => {
    const dir = await writeTree({
      "tests/foo/foo.isolate": "{'includes': ['../../common/base.isolate'], 'variables': {'files': ['foo-data/']}}",
      "common/base.isolate": "{'includes': ['sub/deeper.isolate'], 'variables': {'command': ['./run.sh', 'x'], 'files': ['run.sh'], 'read_only': 1}}",
      "common/sub/deeper.isolate": "{'variables': {'files': ['../../lib/'], 'read_only': 0}}",
    });
    const spec = await loadIsolate(path.join(dir, "tests/foo/foo.isolate"), noVars);
    expect(spec.files).toEqual([`${dir}/common/run.sh`, `${dir}/lib/`, `${dir}/tests/foo/foo-data/`]);
    // No command in the root: the include's command wins and keeps its own dir.
    expect(spec.command).toEqual(["./run.sh", "x"]);
    expect(spec.commandDir).toBe(`${dir}/common`);
    // The including file wins over what it includes.
    expect(spec.readOnly).toBe(1);
  });

  test("the root's command and read_only win over includes; a later include wins over an earlier one", async () => {
    const dir = await writeTree({
      "root.isolate": "{'includes': ['a.isolate', 'b.isolate'], 'variables': {'command': ['root-cmd'], 'read_only': 2}}",
      "middle.isolate": "{'includes': ['a.isolate', 'b.isolate']}",
      "a.isolate": "{'variables': {'command': ['a-cmd'], 'files': ['a'], 'read_only': 0}}",
      "b.isolate": "{'variables': {'command': ['b-cmd', '<(UNDEFINED)'], 'files': ['b'], 'read_only': 1}}",
    });
    // b's command mentions an undefined variable, but it loses, so it is never expanded (as in luci).
    const rootSpec = await loadIsolate(path.join(dir, "root.isolate"), noVars);
    expect(rootSpec.command).toEqual(["root-cmd"]);
    expect(rootSpec.readOnly).toBe(2);
    expect(rootSpec.files).toEqual([`${dir}/a`, `${dir}/b`]);

    const middle = await loadIsolate(path.join(dir, "middle.isolate"), { pathVariables: { UNDEFINED: "now-defined" }, configVariables: {} });
    expect(middle.command).toEqual(["b-cmd", "now-defined"]);
    expect(middle.readOnly).toBe(1);
  });

  test("loads a file included twice through different paths (a diamond) without calling it a cycle", async () => {
    const dir = await writeTree({
      "top.isolate": "{'includes': ['left/l.isolate', 'right/r.isolate']}",
      "left/l.isolate": "{'includes': ['../shared.isolate']}",
      "right/r.isolate": "{'includes': ['../shared.isolate']}",
      "shared.isolate": "{'variables': {'files': ['shared.txt']}}",
    });
    const spec = await loadIsolate(path.join(dir, "top.isolate"), noVars);
    expect(spec.files).toEqual([`${dir}/shared.txt`]);
  });

  test("refuses an include cycle, naming the chain", async () => {
    const dir = await writeTree({
      "a.isolate": "{'includes': ['sub/b.isolate']}",
      "sub/b.isolate": "{'includes': ['../a.isolate']}",
      "self.isolate": "{'includes': ['./self.isolate']}",
    });
    const err = await dtErrorOf(() => loadIsolate(path.join(dir, "a.isolate"), noVars), "invalid_input");
    const a = path.join(dir, "a.isolate");
    const b = path.join(dir, "sub/b.isolate");
    expect(err.message).toBe(`${b}: includes[0] makes an include cycle: ${a} -> ${b} -> ${a}`);
    const self = await dtErrorOf(() => loadIsolate(path.join(dir, "self.isolate"), noVars), "invalid_input");
    expect(self.message).toContain("include cycle");
  });

  test("a missing file or include is not_found, naming the path and the including file", async () => {
    const dir = await writeTree({ "a.isolate": "{'includes': ['missing/x.isolate']}" });
    const missingRoot = await dtErrorOf(() => loadIsolate(path.join(dir, "nope.isolate"), noVars), "not_found");
    expect(missingRoot.message).toBe(`.isolate file ${path.join(dir, "nope.isolate")} does not exist`);
    const missingInclude = await dtErrorOf(() => loadIsolate(path.join(dir, "a.isolate"), noVars), "not_found");
    expect(missingInclude.message).toBe(`.isolate file ${path.join(dir, "missing/x.isolate")} (included from ${path.join(dir, "a.isolate")}) does not exist`);
  });

  test("substitutes <(VAR) from path variables first, then config variables, in files, command and includes", async () => {
    const dir = await writeTree({
      "t.isolate": `{'includes': ['<(INC_DIR)/inc.isolate'],
        'variables': {
          'command': ['<(PRODUCT_DIR)/foo_test<(EXECUTABLE_SUFFIX)', '--os=<(OS)', '<(BOTH)'],
          'files': ['<(PRODUCT_DIR)/foo_test<(EXECUTABLE_SUFFIX)', 'data/<(OS)/', '<(ABS)/x'],
        }}`,
      "incs/inc.isolate": "{'variables': {'files': ['inc.txt']}}",
    });
    const spec = await loadIsolate(path.join(dir, "t.isolate"), {
      pathVariables: { PRODUCT_DIR: "../out/Release", BOTH: "from-path", INC_DIR: "incs", ABS: "/opt/abs" },
      configVariables: { BOTH: "from-config" },
    });
    expect(spec.command).toEqual(["../out/Release/foo_test", "--os=linux", "from-path"]);
    expect(spec.files).toEqual([
      path.join(dir, "../out/Release/foo_test"),
      `${dir}/data/linux/`,
      `${dir}/incs/inc.txt`,
      "/opt/abs/x", // a path variable may expand to an absolute path
    ].sort());

    const windows = await loadIsolate(path.join(dir, "t.isolate"), {
      pathVariables: { PRODUCT_DIR: "out", EXECUTABLE_SUFFIX: ".exe", INC_DIR: "incs", ABS: "abs" },
      configVariables: { OS: "win", BOTH: "from-config" },
    });
    expect(windows.command).toEqual(["out/foo_test.exe", "--os=win", "from-config"]);
  });

  test("an undefined variable is an error naming the variable, the file and the entry", async () => {
    const dir = await writeTree({
      "files.isolate": "{'variables': {'files': ['ok', '<(PRODUCT_DIR)/foo']}}",
      "command.isolate": "{'conditions': [['OS==\"linux\"', {'variables': {'command': ['<(TOOL)']}}]]}",
      "include.isolate": "{'includes': ['<(NOPE).isolate']}",
    });
    const files = await dtErrorOf(() => loadIsolate(path.join(dir, "files.isolate"), noVars), "invalid_input");
    expect(files.message).toBe(
      `${dir}/files.isolate: variable <(PRODUCT_DIR) in variables.files entry "<(PRODUCT_DIR)/foo" is not defined; pass it as a path or config variable`,
    );
    const command = await dtErrorOf(() => loadIsolate(path.join(dir, "command.isolate"), noVars), "invalid_input");
    expect(command.message).toContain(`${dir}/command.isolate: variable <(TOOL) in conditions[0][1].variables.command entry "<(TOOL)"`);
    const include = await dtErrorOf(() => loadIsolate(path.join(dir, "include.isolate"), noVars), "invalid_input");
    expect(include.message).toContain(`variable <(NOPE) in includes[0] entry "<(NOPE).isolate"`);
  });

  test("refuses absolute paths written in files and includes, and allows ..", async () => {
    const dir = await writeTree({
      "abs.isolate": "{'variables': {'files': ['/etc/passwd']}}",
      "absinc.isolate": "{'includes': ['/tmp/x.isolate']}",
      "up.isolate": "{'variables': {'files': ['../../../up']}}",
    });
    const abs = await dtErrorOf(() => loadIsolate(path.join(dir, "abs.isolate"), noVars), "invalid_input");
    expect(abs.message).toBe(`${dir}/abs.isolate: variables.files entry "/etc/passwd" is absolute; isolate files list paths relative to themselves`);
    const absInclude = await dtErrorOf(() => loadIsolate(path.join(dir, "absinc.isolate"), noVars), "invalid_input");
    expect(absInclude.message).toContain('includes[0] entry "/tmp/x.isolate" is absolute');
    const up = await loadIsolate(path.join(dir, "up.isolate"), noVars);
    expect(up.files).toEqual([path.resolve(dir, "../../../up")]);
  });

  test("reports syntax errors with the file path, line and column", async () => {
    const dir = await writeTree({ "bad.isolate": "{\n  'variables': {\n    'files': ['a' 'b' 3],\n  },\n}\n" });
    const err = await dtErrorOf(() => loadIsolate(path.join(dir, "bad.isolate"), noVars), "invalid_input");
    expect(err.message).toBe(`${dir}/bad.isolate:3:23: expected "," or "]" but found "3"`);
  });

  test("refuses a file that is not UTF-8", async () => {
    const dir = await writeTree({ "latin1.isolate": new Uint8Array([0x7b, 0x27, 0xe9, 0x27, 0x3a, 0x31, 0x7d]) });
    const err = await dtErrorOf(() => loadIsolate(path.join(dir, "latin1.isolate"), noVars), "invalid_input");
    expect(err.message).toBe(`.isolate file ${dir}/latin1.isolate is not valid UTF-8`);
  });

  test.each([
    ["[]", "the top level must be a dict, found a list"],
    ["{'variable': {}}", 'unknown top-level key "variable"; only "includes", "variables" and "conditions" are allowed'],
    ["{'includes': 'a.isolate'}", 'includes must be a list, found the string "a.isolate"'],
    ["{'includes': [1]}", "includes[0] must be a string, found the int 1"],
    ["{'variables': []}", "variables must be a dict, found a list"],
    ["{'variables': {'env': []}}", 'unknown key "env" in variables; only "command", "files" and "read_only" are allowed'],
    ["{'variables': {'files': 'a'}}", 'variables.files must be a list, found the string "a"'],
    ["{'variables': {'files': ['a', None]}}", "variables.files[1] must be a string, found None"],
    ["{'variables': {'files': ['']}}", 'variables.files entry "" is not a valid path'],
    ["{'variables': {'command': 'run.sh'}}", 'variables.command must be a list, found the string "run.sh"'],
    ["{'variables': {'command': [['x']]}}", "variables.command[0] must be a string, found a list"],
    ["{'variables': {'read_only': 7}}", "variables.read_only must be 0, 1 or 2, found the int 7"],
    ["{'variables': {'read_only': True}}", "variables.read_only must be 0, 1 or 2, found True"],
    ["{'variables': {'read_only': '1'}}", 'variables.read_only must be 0, 1 or 2, found the string "1"'],
    ["{'conditions': {}}", "conditions must be a list, found a dict"],
    ["{'conditions': ['OS==\"linux\"']}", 'conditions[0] must be a list, found the string "OS==\\"linux\\""'],
    ["{'conditions': [['OS==\"linux\"', {'variables': {}}, {'variables': {}}]]}", 'conditions[0] must be a list of two items, [condition, {"variables": {...}}], found 3 items (isolate dropped "else" branches)'],
    ["{'conditions': [[1, {'variables': {}}]]}", "conditions[0][0] must be a condition string, found the int 1"],
    ["{'conditions': [['OS==\"linux\"', []]]}", "conditions[0][1] must be a dict, found a list"],
    ["{'conditions': [['OS==\"linux\"', {}]]}", 'conditions[0][1] has no "variables" key'],
    ["{'conditions': [['OS==\"linux\"', {'variables': {}, 'else': {}}]]}", 'unknown key "else" in conditions[0][1]; only "variables" is allowed'],
    ["{'conditions': [['OS==\"linux\"', {'variables': {'read_only': 3}}]]}", "conditions[0][1].variables.read_only must be 0, 1 or 2, found the int 3"],
    ["{'conditions': [['OS==linux', {'variables': {}}]]}", 'conditions[0][0]: invalid condition "OS==linux": expected a quoted string but found "linux" at column 5'],
  ])("type error in %s names the file and the key", async (content, message) => {
    const dir = await writeTree({ "t.isolate": content });
    const err = await dtErrorOf(() => loadIsolate(path.join(dir, "t.isolate"), noVars), "invalid_input");
    expect(err.message).toBe(`${dir}/t.isolate: ${message}`);
  });

  test("a type error in an include names the included file", async () => {
    const dir = await writeTree({
      "root.isolate": "{'includes': ['lib/inc.isolate']}",
      "lib/inc.isolate": "{'variables': {'read_only': 7}}",
    });
    const err = await dtErrorOf(() => loadIsolate(path.join(dir, "root.isolate"), noVars), "invalid_input");
    expect(err.message).toBe(`${dir}/lib/inc.isolate: variables.read_only must be 0, 1 or 2, found the int 7`);
  });

  test("a directory given as the .isolate file is invalid_input", async () => {
    const dir = await writeTree({ "d.isolate/inner": "" });
    const err = await dtErrorOf(() => loadIsolate(path.join(dir, "d.isolate"), noVars), "invalid_input");
    expect(err.message).toContain("is not a regular file");
  });
});

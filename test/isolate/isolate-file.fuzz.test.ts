import { describe, expect, test } from "bun:test";
import { DtError } from "../../src/common/errors.ts";
import { conditionMatches } from "../../src/isolate/isolate-file/conditions.ts";
import { parsePythonLiteral } from "../../src/isolate/isolate-file/python-literal.ts";
import { seededRandom } from "../helpers/prng.ts";

/**
 * Bounded fuzzing of the .isolate parsers: every input must either parse or
 * throw a DtError, quickly. Fixed seeds make any failure reproduce exactly.
 */

/**
 * One call on inputs of a few KB takes microseconds; 250 ms leaves room for a
 * loaded 2-core CI machine while still catching quadratic blow-ups.
 */
const MAX_CALL_MS = 250;


const SEED_ISOLATES = [
  `{'variables': {'command': ['../../build-support/run_dist_test.py',
                           '--',
                           '-e',
                           'KUDU_TEST_TIMEOUT=870',
                           '../../build/latest/bin/foo-test'],
               'files': ['../../build/latest/bin/foo-test',
                         '../../build/latest/lib/',
                         '../../build-support/run_dist_test.py']}}
`,
  `# Copyright header
{
  'includes': ['../base.isolate', "<(DEPTH)/common.isolate",],
  'conditions': [
    ['OS=="linux" and (CPU=="x64" or CPU!="arm")', {
      'variables': {
        'command': ['<(PRODUCT_DIR)/foo<(EXECUTABLE_SUFFIX)', '--flag=-1'],
        'files': ['data/', 'a' "b" u'c' r'\\d'],
        'read_only': 2,
      },
    }],
  ],
  'variables': {'read_only': -0, 'files': ['x\\n\\t\\x41\\u00e9\\U0001F600\\101\\\nz']},
}`,
  `{"a": [True, False, None, 12345, -7, + 3], 'b': {'c': {'d': []}}, '__proto__': ''}`,
];

const SEED_CONDITIONS = [
  'OS=="linux"',
  "OS=='mac' or OS=='linux' and CPU!=\"arm\"",
  '(OS=="linux" or (OS=="mac" and (CPU=="x64"))) and GPU!="none"',
];

/** Characters that matter to the grammars, plus a few awkward ones, so mutations hit interesting paths. */
const ALPHABET = [..."{}[]()'\",:#\\ \n\r\t=!<>-+0123456789aNTForndux_"].concat(["\0", "é", "😀", "\uFEFF", "\uD800"]);

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

function randomText(random: () => number, maxLength: number, alphabet: readonly string[]): string {
  const length = Math.floor(random() * maxLength);
  let text = "";
  for (let i = 0; i < length; i++) text += pick(random, alphabet);
  return text;
}

/** Random bytes decoded leniently, as a file read from disk might be. */
function randomBytesText(random: () => number, maxLength: number): string {
  const bytes = new Uint8Array(Math.floor(random() * maxLength));
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
  return new TextDecoder().decode(bytes);
}

/** One random edit: insert, delete, replace, truncate, or duplicate a span. */
function mutate(random: () => number, text: string): string {
  const at = Math.floor(random() * (text.length + 1));
  const spanEnd = Math.min(text.length, at + 1 + Math.floor(random() * 12));
  switch (Math.floor(random() * 5)) {
    case 0:
      return text.slice(0, at) + randomText(random, 4, ALPHABET) + text.slice(at);
    case 1:
      return text.slice(0, at) + text.slice(spanEnd);
    case 2:
      return text.slice(0, at) + pick(random, ALPHABET) + text.slice(at + 1);
    case 3:
      return text.slice(0, at);
    default:
      return text.slice(0, spanEnd) + text.slice(at, spanEnd) + text.slice(spanEnd);
  }
}

/** Calls `fn` on `input`; fails with the input printed unless it returns or throws a DtError within MAX_CALL_MS. */
function check(name: string, input: string, fn: (input: string) => unknown): "ok" | "error" {
  const started = performance.now();
  let outcome: "ok" | "error" = "ok";
  try {
    fn(input);
  } catch (err) {
    if (!(err instanceof DtError)) {
      console.error(`${name} threw a non-DtError on input ${JSON.stringify(input)}:`, err);
      throw new Error(`${name} threw ${String(err)} on input ${JSON.stringify(input)}`);
    }
    outcome = "error";
  }
  const elapsedMs = performance.now() - started;
  if (elapsedMs > MAX_CALL_MS) {
    console.error(`${name} took ${elapsedMs.toFixed(1)} ms on input ${JSON.stringify(input)}`);
    throw new Error(`${name} took ${elapsedMs.toFixed(1)} ms (limit ${MAX_CALL_MS}) on input ${JSON.stringify(input)}`);
  }
  return outcome;
}

const parseLiteral = (input: string) => parsePythonLiteral(input, "fuzz.isolate");
const vars = new Map([["OS", "linux"], ["CPU", "x64"]]);
const matchCondition = (input: string) => conditionMatches(input, vars, "fuzz.isolate conditions[0][0]");

describe("fuzz", () => {
  test("the seeds themselves are valid", () => {
    for (const seed of SEED_ISOLATES) expect(check("parsePythonLiteral", seed, parseLiteral)).toBe("ok");
    for (const seed of SEED_CONDITIONS) expect(check("conditionMatches", seed, matchCondition)).toBe("ok");
  });

  test("parsePythonLiteral on mutated .isolate texts and random bytes returns or throws DtError", () => {
    const random = seededRandom(0x15014e);
    const outcomes = { ok: 0, error: 0 };
    for (let i = 0; i < 20_000; i++) {
      let input = pick(random, SEED_ISOLATES);
      const edits = 1 + Math.floor(random() * 4);
      for (let e = 0; e < edits; e++) input = mutate(random, input);
      outcomes[check("parsePythonLiteral", input, parseLiteral)]++;
    }
    for (let i = 0; i < 5_000; i++) {
      const input = random() < 0.5 ? randomBytesText(random, 200) : randomText(random, 200, ALPHABET);
      outcomes[check("parsePythonLiteral", input, parseLiteral)]++;
    }
    // Both outcomes must occur, or the mutations are not exercising the parser.
    expect(outcomes.ok).toBeGreaterThan(50);
    expect(outcomes.error).toBeGreaterThan(50);
  });

  test("the condition evaluator on mutated and random expressions returns or throws DtError", () => {
    const random = seededRandom(0xc0ffee);
    const outcomes = { ok: 0, error: 0 };
    for (let i = 0; i < 20_000; i++) {
      let input = pick(random, SEED_CONDITIONS);
      const edits = 1 + Math.floor(random() * 3);
      for (let e = 0; e < edits; e++) input = mutate(random, input);
      outcomes[check("conditionMatches", input, matchCondition)]++;
    }
    for (let i = 0; i < 5_000; i++) {
      const input = random() < 0.5 ? randomBytesText(random, 80) : randomText(random, 80, ALPHABET);
      outcomes[check("conditionMatches", input, matchCondition)]++;
    }
    expect(outcomes.ok).toBeGreaterThan(50);
    expect(outcomes.error).toBeGreaterThan(50);
  });

  test("adversarial shapes stay fast and end in DtError or a value", () => {
    const literalInputs = [
      "[".repeat(100_000),
      "{'a':".repeat(50_000),
      "'" + "\\".repeat(100_001),
      "['a' " + "'b' ".repeat(100_000) + "]",
      "[" + "1,".repeat(100_000) + "]",
      "#".repeat(200_000),
      "-".repeat(100_000) + "1",
      "'" + "x".repeat(500_000),
    ];
    for (const input of literalInputs) check("parsePythonLiteral", input, parseLiteral);
    const conditionInputs = [
      "(".repeat(100_000),
      'OS=="a" or '.repeat(20_000) + 'OS=="linux"',
      "A".repeat(200_000),
      "'" + "\\".repeat(100_001),
    ];
    for (const input of conditionInputs) check("conditionMatches", input, matchCondition);
    expect(check("conditionMatches", conditionInputs[1], matchCondition)).toBe("ok");
  });
});

/**
 * Fuzz targets of the .isolate parsers (src/isolate/isolate-file/): the
 * Python-literal parser, the condition evaluator, and loadIsolate on a file
 * with includes, which adds the shape checks and `<(VAR)` substitution.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { conditionMatches } from "../../src/isolate/isolate-file/conditions.ts";
import { loadIsolate } from "../../src/isolate/isolate-file/load.ts";
import { parsePythonLiteral } from "../../src/isolate/isolate-file/python-literal.ts";
import { type FuzzTarget, showBytes, shrinkBytes, shrinkText } from "./harness.ts";
import { Mutator, type Random, chance, lenientText, logSize, pick, utf8 } from "./mutate.ts";

/** .isolate files as Kudu's build writes them, and one with every feature of the grammar. */
export const ISOLATE_SEEDS: readonly string[] = [
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
  'includes': ['base.isolate', "<(DEPTH)/common.isolate",],
  'conditions': [
    ['OS=="linux" and (CPU=="x64" or CPU!="arm")', {
      'variables': {
        'command': ['<(PRODUCT_DIR)/foo<(EXECUTABLE_SUFFIX)', '--flag=-1'],
        'files': ['data/', 'a' "b" u'c' r'\\d'],
        'read_only': 2,
      },
    }],
    ['OS=="mac"', {'variables': {'files': ['mac-only/'], 'read_only': None}}],
  ],
  'variables': {'read_only': -0, 'files': ['x\\n\\t\\x41\\u00e9\\U0001F600\\101\\\nz']},
}`,
  `{'includes': ['sub/inc.isolate'], 'variables': {'files': ['sub/'], 'command': ['./run.sh', '<(PRODUCT_DIR)']}}`,
];

/** Literals beyond what loadIsolate accepts at the top level, for the literal parser alone. */
const LITERAL_SEEDS: readonly string[] = [...ISOLATE_SEEDS, `{"a": [True, False, None, 12345, -7, + 3], 'b': {'c': {'d': []}}, '__proto__': ''}`];

export const CONDITION_SEEDS: readonly string[] = [
  'OS=="linux"',
  "OS=='mac' or OS=='linux' and CPU!=\"arm\"",
  '(OS=="linux" or (OS=="mac" and (CPU=="x64"))) and GPU!="none"',
];

const LITERAL_TOKENS = [
  "'", '"', "'''", "u'", "r'", "b'", "f'", "\\\n", "\\'", "\\x4", "\\u12", "\\U00110000", "\\N{DASH}", "\\777", "#", "True", "None", "1_0",
  "'includes'", "'variables'", "'conditions'", "'command'", "'files'", "'read_only'", "<(", "<(PRODUCT_DIR)", "<(UNDEFINED)", "../", "/abs",
];
const CONDITION_TOKENS = ["==", "!=", "and", "or", "not", "(", ")", "OS", "CPU", "'linux'", '"x64"', "=", "!", "in"];

/** Strings as the parsers take them: decoded bytes, and now and then a lone surrogate, which no decoder makes but a caller might. */
function textInputs(random: Random, seeds: readonly string[], dictionary: readonly string[]): () => string {
  const mutator = new Mutator(random, { seeds: seeds.map(utf8), dictionary });
  return () => {
    const text = lenientText(mutator.next());
    if (!chance(random, 0.03)) return text;
    const at = Math.floor(random() * (text.length + 1));
    return text.slice(0, at) + pick(random, ["\uD800", "\uDFFF", "\uFFFE"]).repeat(logSize(random, 4)) + text.slice(at);
  };
}

export const pythonLiteralTarget: FuzzTarget<string> = {
  seeds: LITERAL_SEEDS,
  inputs: (random) => textInputs(random, LITERAL_SEEDS, LITERAL_TOKENS),
  run: (input) => parsePythonLiteral(input, "fuzz.isolate"),
  show: (input) => JSON.stringify(input),
  shrink: shrinkText,
};

const CONFIG_VARIABLES = new Map([["OS", "linux"], ["CPU", "x64"]]);

export const conditionTarget: FuzzTarget<string> = {
  seeds: CONDITION_SEEDS,
  inputs: (random) => textInputs(random, CONDITION_SEEDS, CONDITION_TOKENS),
  run: (input) => conditionMatches(input, CONFIG_VARIABLES, "fuzz.isolate conditions[0][0]"),
  show: (input) => JSON.stringify(input),
  shrink: shrinkText,
};

/**
 * The files next to the fuzzed one: the includes the seeds name, one that
 * includes the fuzzed file back (a cycle), and one that is not an .isolate.
 */
const NEIGHBOURS: Record<string, string> = {
  "base.isolate": "{'variables': {'files': ['base-data/'], 'command': ['base-cmd']}}",
  "common.isolate": "{'includes': ['sub/inc.isolate'], 'variables': {'read_only': 1}}",
  "sub/inc.isolate": "{'variables': {'files': ['../shared/', 'x<(EXECUTABLE_SUFFIX)']}}",
  "cycle.isolate": "{'includes': ['fuzz.isolate']}",
  "not-literal.isolate": "print('hello')",
};

let fuzzDir: string | undefined;

export const loadIsolateTarget: FuzzTarget<Uint8Array> = {
  seeds: ISOLATE_SEEDS.map(utf8),
  // A missing include is not_found, which is the right answer for it.
  accepts: ["invalid_input", "too_large", "not_found"],
  setup(dir) {
    fuzzDir = dir;
    mkdirSync(join(dir, "sub"));
    for (const [name, text] of Object.entries(NEIGHBOURS)) writeFileSync(join(dir, name), text);
  },
  inputs(random) {
    const mutator = new Mutator(random, {
      seeds: ISOLATE_SEEDS.map(utf8),
      dictionary: [...LITERAL_TOKENS, ...Object.keys(NEIGHBOURS).map((name) => `'${name}'`), "'fuzz.isolate'", "'sub/'", "'sub'"],
    });
    return () => mutator.next();
  },
  async run(input) {
    if (!fuzzDir) throw new Error("loadIsolateTarget.setup was not called");
    const file = join(fuzzDir, "fuzz.isolate");
    writeFileSync(file, input);
    await loadIsolate(file, { pathVariables: { PRODUCT_DIR: "out", DEPTH: "." }, configVariables: { CPU: "x64" } });
  },
  show: showBytes,
  shrink: shrinkBytes,
};

/**
 * Fuzz target: the results parsers (src/results/) on mutated reports written
 * by real runners (test/fixtures/results/): truncated, spliced, with entity
 * declarations, entities and gtest markers injected. Every input goes
 * through all three parsers, which must never throw and must keep their
 * bounds. A parse that left notes (by the parser that claims the input) counts as "refused" in the report (a
 * DtError thrown here, not by the parser), so the test can check that both
 * clean and noted parses occur.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DtError } from "../../src/common/errors.ts";
import { RESULT_PARSERS } from "../../src/results/collect.ts";
import { MAX_CASE_MESSAGE_CHARS } from "../../src/results/model.ts";
import { HEAD_BYTES, MAX_NOTES } from "../../src/results/parser.ts";
import { type FuzzTarget, showBytes, shrinkBytes } from "./harness.ts";
import { Mutator } from "./mutate.ts";

const FIXTURES = join(import.meta.dir, "../fixtures/results");

/** One report of each runner, and gtest's stdout, whole crashed run included. */
const SEED_FILES = [
  "gtest/full.xml",
  "gtest/full.stdout.txt",
  "gtest/aborted.stdout.txt",
  "pytest/report.xml",
  "go-junit-report/report.xml",
  "gotestsum/report.xml",
  "jest-junit/junit.xml",
  "surefire/TEST-com.example.SampleTest.xml",
];

const SEEDS: readonly Uint8Array[] = SEED_FILES.map((file) => new Uint8Array(readFileSync(join(FIXTURES, file))));

const DICTIONARY = [
  '<!DOCTYPE t [<!ENTITY a "&b;&b;&b;"><!ENTITY b "xxxxxxxx">]>',
  '<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
  '<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd">%p;',
  "&a;", "&x;", "&amp;", "&lt;", "&#x0;", "&#1114112;", "&#65;", "&nbsp;",
  "<![CDATA[", "]]>", "<!--", "-->", "<?xml version=\"1.0\" encoding=\"UTF-16\"?>", "<?pi x?>",
  "<testsuites>", "</testsuites>", "<testsuite name=\"s\">", "</testsuite>", "<testcase classname=\"c\" name=\"n\" time=\"1e309\">", "</testcase>", "<testcase/>",
  "<failure message=\"m\">", "</failure>", "<error/>", "<skipped/>", "<flakyFailure>", "<rerunFailure/>", "<system-out>", "time=\"-1\"", "status=\"notrun\"",
  "[ RUN      ] A.B\n", "[       OK ] A.B (12 ms)\n", "[  FAILED  ] A.B, where TypeParam = int (3 ms)\n", "[  SKIPPED ] A.B\n", "[ DISABLED ] A.B\n",
  "[==========] 3 tests from 1 test suite ran. (0 ms total)\n", "x.cc:12: Failure\n", "\x1b[0;32m", "\x1b[m",
];

export const resultsTarget: FuzzTarget<Uint8Array> = {
  seeds: SEEDS,
  inputs(random) {
    const mutator = new Mutator(random, { seeds: SEEDS, dictionary: DICTIONARY });
    return () => mutator.next();
  },
  async run(input) {
    let noted = false;
    for (const parser of Object.values(RESULT_PARSERS)) {
      const outcome = await parser.parse(input, { exitCode: null, signal: "SIGSEGV" });
      if (outcome.format !== parser.format) throw new Error(`${parser.format} answered as ${outcome.format}`);
      if (outcome.notes.length > MAX_NOTES + 1) throw new Error(`${outcome.notes.length} notes`);
      for (const c of outcome.cases) {
        if (!["passed", "failed", "skipped", "crashed"].includes(c.status)) throw new Error(`status ${c.status}`);
        if ((c.message?.length ?? 0) > MAX_CASE_MESSAGE_CHARS + 100) throw new Error(`a message of ${c.message?.length} characters`);
        if (c.durationMs !== null && !(Number.isFinite(c.durationMs) && c.durationMs >= 0)) throw new Error(`duration ${c.durationMs}`);
        if (c.line !== null && !(Number.isInteger(c.line) && c.line > 0)) throw new Error(`line ${c.line}`);
        if (c.status === "crashed" && !c.message?.startsWith("crashed (signal 11, SIGSEGV)")) throw new Error(`crash message ${c.message}`);
      }
      // Each case costs at least a few bytes of input; more cases than bytes would mean the parser makes them up.
      if (outcome.cases.length > input.length) throw new Error(`${outcome.cases.length} cases from ${input.length} bytes`);
      // Only notes from the parser that claims the input count: XML parsers note any stdout log, of course.
      if (outcome.notes.length > 0 && parser.detect(input.subarray(0, HEAD_BYTES))) noted = true;
    }
    if (noted) throw new DtError("invalid_input", "the parse left notes");
  },
  show: showBytes,
  shrink: shrinkBytes,
};

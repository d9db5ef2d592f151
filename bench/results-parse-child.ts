/**
 * Child of bench/results-parse.ts: parses one report with dt's JUnit parser
 * and prints {cases, parseMs, notes} as JSON, so the parent can read this
 * process's peak RSS. `--baseline` only loads the parser.
 */
import { junitXmlParser } from "../src/results/junit-xml.ts";

const path = process.argv[2];
if (!path) throw new Error("usage: bun bench/results-parse-child.ts REPORT.xml | --baseline");
if (path === "--baseline") console.log(JSON.stringify({ cases: 0, parseMs: 0, notes: [], loaded: typeof junitXmlParser.parse }));
else {
  const started = performance.now();
  const outcome = await junitXmlParser.parse(path);
  console.log(JSON.stringify({ cases: outcome.cases.length, parseMs: performance.now() - started, notes: outcome.notes }));
}

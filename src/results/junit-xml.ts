/**
 * JUnit XML as Maven Surefire, Gradle, pytest --junitxml, go-junit-report,
 * gotestsum and jest-junit write it, and gtest's XML, which is the same
 * shape with gtest's status/result attributes. Cases are
 * <testcase classname name time> under any depth of <testsuites>/<testsuite>;
 * a <failure> or <error> (or Surefire's <rerunFailure>/<rerunError> alone)
 * fails it, <skipped> skips it, Surefire's <flakyFailure>/<flakyError> count
 * the failures of a case that passed on a rerun. <system-out>/<system-err>
 * are not kept: the logs have them.
 *
 * The suite is the classname (Surefire's class, pytest's module, go's
 * package, gtest's suite). jest-junit by default writes the case's full
 * title as both classname and name; then the enclosing <testsuite>'s name
 * (the describe block) is the suite, so the identity stays stable.
 *
 * @example
 *   const outcome = await junitXmlParser.parse("target/surefire-reports/TEST-com.example.FooTest.xml");
 */
import { failureLocation } from "./location.ts";
import { type CaseResult, type CaseStatus, MAX_CASE_MESSAGE_CHARS, type ParseOutcome, type ResultFormat } from "./model.ts";
import { BoundedText, CaseList, HEAD_BYTES, MAX_CASES_PER_FILE, Notes, type ParseOptions, type ResultParser, type ResultSource } from "./parser.ts";
import { streamXml } from "./xml-stream.ts";

/** The root element and its attributes' text, from a file's first bytes; null when none is there. */
export function rootElement(head: Uint8Array): { name: string; attributes: string } | null {
  const text = new TextDecoder().decode(head.subarray(0, HEAD_BYTES));
  // Skip the BOM, the declaration, comments and processing instructions: the first "<" followed by a name is the root.
  const match = /<([A-Za-z_][\w.:-]*)((?:\s[^>]*)?)>?/.exec(text.replace(/<!--[\s\S]*?-->|<\?[\s\S]*?\?>/g, ""));
  return match ? { name: match[1]!, attributes: match[2] ?? "" } : null;
}

/** gtest always names its root `AllTests` (googletest's xml_unit_test_result_printer). */
const isGtestRoot = (root: { name: string; attributes: string } | null) => root?.name === "testsuites" && /\sname\s*=\s*["']AllTests["']/.test(root.attributes);

type Dialect = "junit" | "gtest";

/** A case being read: its attributes, then what its children say. */
interface OpenCase {
  suite: string;
  name: string;
  durationMs: number | null;
  status: CaseStatus;
  message: BoundedText | null;
  flakyFailures: number;
  /** gtest's `file`/`line` attributes: where the test is declared, used when the message names no place. */
  declaredFile: string | null;
  declaredLine: number | null;
  /** Not a case of this run (gtest's disabled tests). */
  ignored?: boolean;
}

/** Seconds as JUnit writes them ("0.012", "1,234.5" from some locales, "") to ms; null when not a number. */
export function secondsToMs(value: string | undefined): number | null {
  if (value === undefined) return null;
  const seconds = Number(value.trim().replace(/,/g, ""));
  // Microsecond precision; a finite number of seconds can still overflow to Infinity as ms (".1e309", found by the fuzzer).
  const ms = Math.round(seconds * 1000 * 1000) / 1000;
  return value.trim() !== "" && Number.isFinite(ms) && ms >= 0 ? ms : null;
}

const FAILS = new Set(["failure", "error"]);
const FAILS_IF_ALONE = new Set(["rerunFailure", "rerunError"]);
const FLAKY = new Set(["flakyFailure", "flakyError"]);

/** Reads one report; exported through the two parsers below. */
async function parseJunitLike(dialect: Dialect, source: ResultSource, options: ParseOptions): Promise<ParseOutcome> {
  const format: ResultFormat = dialect === "gtest" ? "gtest-xml" : "junit-xml";
  const maxMessage = options.maxMessageChars ?? MAX_CASE_MESSAGE_CHARS;
  const notes = new Notes();
  const list = new CaseList(options.maxCases ?? MAX_CASES_PER_FILE);
  const suites: string[] = [];
  let current: OpenCase | null = null;
  /** The <failure>/<error>/<skipped> being read: its message attribute and its body. */
  let detail: { summary: string; body: BoundedText } | null = null;

  const finish = (c: OpenCase) => {
    if (c.ignored) return;
    const message = c.message ? c.message.toString().trim() || null : null;
    const place = c.status === "passed" ? null : failureLocation(message);
    const result: CaseResult = {
      suite: c.suite,
      name: c.name,
      status: c.status,
      durationMs: c.durationMs,
      message,
      file: place?.file ?? (c.status === "passed" ? null : c.declaredFile),
      line: place?.line ?? (c.status === "passed" ? null : c.declaredLine),
    };
    if (c.flakyFailures > 0) result.flakyFailures = c.flakyFailures;
    list.push(result);
  };

  /** Adds a finished <failure>/<skipped> to its case's message: the summary, then the body unless it repeats it (gtest writes both the same). */
  const endDetail = (c: OpenCase) => {
    if (!detail) return;
    const body = detail.body.toString().trim();
    const summary = detail.summary;
    const text = !summary ? body : !body || body.includes(summary) ? body || summary : `${summary}\n${body}`;
    detail = null;
    if (!text) return;
    c.message ??= new BoundedText(maxMessage);
    if (c.message.length > 0) c.message.append("\n\n");
    c.message.append(text);
  };

  const outcome = await streamXml(
    source,
    {
      open(name, attributes) {
        if (name === "testsuite" || name === "testsuites") {
          suites.push((attributes.name ?? "").trim());
          return;
        }
        if (name === "testcase") {
          const caseName = (attributes.name ?? "").trim();
          const classname = (attributes.classname ?? attributes.class ?? "").trim();
          const suite = classname && classname !== caseName ? classname : (suites.findLast((s) => s !== "") ?? "");
          const line = Number(attributes.line);
          current = {
            suite,
            name: caseName,
            durationMs: secondsToMs(attributes.time),
            status: "passed",
            message: null,
            flakyFailures: 0,
            declaredFile: attributes.file ?? null,
            declaredLine: Number.isInteger(line) && line > 0 ? line : null,
          };
          // gtest lists a DISABLED_ test as status="notrun": it did not run, and gtest's console does not count it
          // either (and prints it in every shard), so it is no case of this run in any format.
          if (dialect === "gtest" && (attributes.status === "notrun" || attributes.result === "suppressed")) current.ignored = true;
          else if (dialect === "gtest" && attributes.result === "skipped") current.status = "skipped";
          return;
        }
        const c = current as OpenCase | null;
        if (!c || detail) return;
        const startDetail = () => {
          detail = { summary: (attributes.message ?? "").trim().slice(0, maxMessage), body: new BoundedText(maxMessage) };
        };
        if (FAILS.has(name) || (FAILS_IF_ALONE.has(name) && c.status !== "failed")) {
          if (c.status !== "failed") c.message = null;
          c.status = "failed";
          startDetail();
        } else if (name === "skipped" && c.status !== "failed") {
          c.status = "skipped";
          c.message = null;
          startDetail();
        } else if (FLAKY.has(name)) c.flakyFailures++;
      },
      text(piece) {
        (detail as { body: BoundedText } | null)?.body.append(piece);
      },
      close(name) {
        if (name === "testsuite" || name === "testsuites") suites.pop();
        else if (name === "testcase" && current) {
          endDetail(current);
          finish(current);
          current = null;
        } else if (current && (FAILS.has(name) || FAILS_IF_ALONE.has(name) || name === "skipped")) endDetail(current);
      },
    },
    notes,
    format,
  );
  if (!outcome.complete && current) notes.add(`${format}: the case ${(current as OpenCase).suite}.${(current as OpenCase).name} was cut short by the end of the parse and is left out`);
  const overflow = list.overflowNote();
  if (overflow) notes.add(`${format}: ${overflow}`);
  return { format, cases: list.cases, notes: notes.done() };
}

/** JUnit XML from Surefire, Gradle, pytest, go-junit-report, gotestsum, jest-junit and the like. */
export const junitXmlParser: ResultParser = {
  format: "junit-xml",
  detect(head) {
    const root = rootElement(head);
    return (root?.name === "testsuites" || root?.name === "testsuite") && !isGtestRoot(root);
  },
  parse: (source, options = {}) => parseJunitLike("junit", source, options),
};

/** googletest's `--gtest_output=xml:` report. */
export const gtestXmlParser: ResultParser = {
  format: "gtest-xml",
  detect: (head) => isGtestRoot(rootElement(head)),
  parse: (source, options = {}) => parseJunitLike("gtest", source, options),
};

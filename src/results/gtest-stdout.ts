/**
 * googletest's console output, for a binary that leaves no XML (Kudu-style
 * commands need no change). A case is `[ RUN      ] Suite.Case` up to its
 * end line: `[       OK ]`, `[  FAILED  ]` or `[  SKIPPED ]`, with
 * `(N ms)` and, for typed and value-parameterized tests, `, where
 * TypeParam = …`. The lines between are its message (`file:line: Failure`
 * and the assertion). `[ DISABLED ]` is not a case: it did not run, and every
 * shard prints it. After
 * `[==========] N tests from M test suites ran.` come summary lists that
 * repeat failed and skipped names; they are not cases.
 *
 * A case with a RUN line and no end line was running when the binary died:
 * it is `crashed`, with the signal from the parse options.
 *
 * @example
 *   const outcome = await gtestStdoutParser.parse("/slave/attempt/stdout.log", { exitCode: null, signal: "SIGABRT" });
 */
import { failureLocation } from "./location.ts";
import { type CaseResult, type CaseStatus, MAX_CASE_MESSAGE_CHARS, type ParseOutcome } from "./model.ts";
import { BoundedText, CaseList, MAX_CASES_PER_FILE, Notes, type ParseOptions, type ResultParser, type ResultSource, sourceChunks } from "./parser.ts";
import { crashedMessage } from "./verdict.ts";

/** Lines past this are cut (their tail is not a gtest marker): bounds memory on a binary that prints megabytes without a newline. */
const MAX_LINE_CHARS = 64 * 1024;

/** gtest's colours (`--gtest_color=yes`) wrap the bracket in escapes. */
const ANSI = /\x1b\[[0-9;]*m/g;
const MARKER = /^\[ {1,7}(RUN|OK|FAILED|SKIPPED|DISABLED) {0,6}\] (.*)$/;
const SUMMARY = /^\[==========\] .* ran\./;
/** `Suite.Case`, the suite possibly `Prefix/Suite` or `Suite/0`, the case possibly `Case/0`; then `, where …` and/or ` (12 ms)`. */
const CASE_REF = /^([^\s.,]+)\.([^\s,]+)(?:,| |$)/;
const ELAPSED = / \((\d{1,12}) ms\)$/;

const END_STATUS: Record<string, CaseStatus> = { OK: "passed", FAILED: "failed", SKIPPED: "skipped" };

/** Lines of a byte stream, each at most MAX_LINE_CHARS; invalid UTF-8 becomes U+FFFD (`onBadUtf8` is told once). */
async function* boundedLines(source: ResultSource, onBadUtf8: () => void): AsyncGenerator<string> {
  let decoder = new TextDecoder("utf-8", { fatal: true });
  const decode = (chunk?: Uint8Array) => {
    try {
      return chunk ? decoder.decode(chunk, { stream: true }) : decoder.decode();
    } catch {
      onBadUtf8();
      decoder = new TextDecoder("utf-8");
      return chunk ? decoder.decode(chunk, { stream: true }) : decoder.decode();
    }
  };
  let partial = "";
  for await (const chunk of sourceChunks(source)) {
    const text = decode(chunk);
    let from = 0;
    for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", from)) {
      yield (partial + text.slice(from, Math.min(nl, from + MAX_LINE_CHARS))).slice(0, MAX_LINE_CHARS);
      partial = "";
      from = nl + 1;
    }
    if (partial.length < MAX_LINE_CHARS) partial += text.slice(from, from + MAX_LINE_CHARS - partial.length);
  }
  const rest = partial + decode();
  if (rest) yield rest.slice(0, MAX_LINE_CHARS);
}

async function parseGtestStdout(source: ResultSource, options: ParseOptions): Promise<ParseOutcome> {
  const maxMessage = options.maxMessageChars ?? MAX_CASE_MESSAGE_CHARS;
  const notes = new Notes();
  const list = new CaseList(options.maxCases ?? MAX_CASES_PER_FILE);
  let running: { suite: string; name: string; output: BoundedText } | null = null;
  let summary = false;

  const record = (suite: string, name: string, status: CaseStatus, durationMs: number | null, message: string | null) => {
    const text = message?.trim() || null;
    const place = status === "passed" ? null : failureLocation(text);
    const c: CaseResult = { suite, name, status, durationMs, message: text, file: place?.file ?? null, line: place?.line ?? null };
    list.push(c);
  };

  /** Not a marker for the running case: its output (the failure text). */
  const appendOutput = (line: string) => {
    if (!running) return;
    if (running.output.length > 0) running.output.append("\n");
    running.output.append(line);
  };

  try {
    for await (const raw of boundedLines(source, () => notes.add("gtest-stdout: the output is not valid UTF-8; the bad bytes were read as U+FFFD"))) {
      const line = raw.includes("\x1b") ? raw.replace(ANSI, "").trimEnd() : raw.trimEnd();
      if (SUMMARY.test(line)) summary = true;
      const marker = MARKER.exec(line);
      const ref = marker ? CASE_REF.exec(marker[2]!) : null;
      if (!marker || !ref || summary) {
        appendOutput(line);
        continue;
      }
      const [, kind] = marker;
      const [, suite, name] = ref as unknown as [string, string, string];
      if (kind === "RUN") {
        if (running) {
          notes.add(`gtest-stdout: ${running.suite}.${running.name} has no end line before ${suite}.${name} starts; counted as failed`);
          record(running.suite, running.name, "failed", null, `no result line\n${running.output.toString()}`);
        }
        running = { suite, name, output: new BoundedText(maxMessage) };
      } else if (kind === "DISABLED") {
        // Not run, and printed by every shard: not a case (the XML parser leaves gtest's notrun out too).
      } else if (running && running.suite === suite && running.name === name) {
        const elapsed = ELAPSED.exec(marker[2]!);
        const status = END_STATUS[kind!]!;
        record(suite, name, status, elapsed ? Number(elapsed[1]) : null, status === "passed" ? null : running.output.toString());
        running = null;
      } else appendOutput(line); // an end line for a case not running (a test's own output imitating gtest) is not a case
    }
  } catch (err) {
    notes.add(`gtest-stdout: reading the output stopped: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (running) {
    const output = running.output.toString().trim();
    const crashed = crashedMessage(options.exitCode, options.signal);
    record(running.suite, running.name, "crashed", null, output ? `${crashed}\n${output}` : crashed);
  }
  const overflow = list.overflowNote();
  if (overflow) notes.add(`gtest-stdout: ${overflow}`);
  return { format: "gtest-stdout", cases: list.cases, notes: notes.done() };
}

/** Enough of gtest's console output to tell it from other logs. */
const GTEST_HEAD = /^\[ RUN {6}\] |^\[==========\] Running \d+ tests? from /m;

export const gtestStdoutParser: ResultParser = {
  format: "gtest-stdout",
  detect: (head) => GTEST_HEAD.test(new TextDecoder().decode(head).replace(ANSI, "")),
  parse: (source, options = {}) => parseGtestStdout(source, options),
};

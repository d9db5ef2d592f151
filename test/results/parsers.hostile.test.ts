/**
 * Hostile and broken reports: every one gives the cases it can plus a note,
 * never a throw, and keeps memory bounded. Files are real files on disk, read
 * the way readResults reads them.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gtestStdoutParser } from "../../src/results/gtest-stdout.ts";
import { junitXmlParser, rootElement } from "../../src/results/junit-xml.ts";
import { MAX_CASE_MESSAGE_CHARS } from "../../src/results/model.ts";
import { TempDirs } from "../helpers/temp.ts";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

async function file(content: string | Uint8Array): Promise<string> {
  const path = join(await temps.make("dt-results-"), "report.xml");
  await writeFile(path, content);
  return path;
}

const CASE = (i: number) => `<testcase classname="pkg.Suite" name="case${i}" time="0.001"/>`;
const REPORT = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="pkg.Suite">${body}</testsuite></testsuites>\n`;

describe("JUnit XML: hostile and broken input", () => {
  test("a DOCTYPE with entity declarations (billion laughs) is refused before any expansion", async () => {
    const lol = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ""};`.repeat(10)}">`).join("")}]><testsuite><testcase classname="&lol9;" name="a"/></testsuite>`;
    const outcome = await junitXmlParser.parse(await file(lol));
    expect(outcome.cases).toEqual([]);
    expect(outcome.notes.join("\n")).toMatch(/DOCTYPE declaration .* refused/);
  });

  test("an external entity is never read", async () => {
    const xxe = `<?xml version="1.0"?><!DOCTYPE t [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><testsuite><testcase name="&xxe;"/></testsuite>`;
    const outcome = await junitXmlParser.parse(await file(xxe));
    expect(JSON.stringify(outcome)).not.toContain("root:");
    expect(outcome.notes.join("\n")).toContain("refused");
  });

  test("an undeclared entity stops the parse with a note, keeping the cases before it", async () => {
    const outcome = await junitXmlParser.parse(await file(REPORT(`${CASE(1)}<testcase classname="pkg.Suite" name="a&nbsp;b"/>${CASE(3)}`)));
    expect(outcome.cases.map((c) => c.name)).toEqual(["case1"]);
    expect(outcome.notes[0]).toContain("not well-formed XML");
  });

  test("a truncated file (the writer died mid-write) gives the cases read so far and a note", async () => {
    const whole = REPORT(`${CASE(1)}${CASE(2)}<testcase classname="pkg.Suite" name="case3"><failure message="boom">trace`);
    const outcome = await junitXmlParser.parse(await file(whole.slice(0, whole.indexOf("trace") + 3)));
    expect(outcome.cases.map((c) => c.name)).toEqual(["case1", "case2"]);
    expect(outcome.notes.join("\n")).toContain("truncated");
    expect(outcome.notes.join("\n")).toContain("pkg.Suite.case3 was cut short");
  });

  test("invalid UTF-8 is read as U+FFFD with a note", async () => {
    const [before, after] = REPORT(`${CASE(1)}<testcase classname="pkg.Suite" name="bad!"/>${CASE(3)}`).split("!");
    const outcome = await junitXmlParser.parse(await file(Buffer.concat([Buffer.from(before!), Buffer.from([0xff, 0xfe]), Buffer.from(after!)])));
    expect(outcome.cases.map((c) => c.name)).toEqual(["case1", "bad\uFFFD\uFFFD", "case3"]);
    expect(outcome.notes.join("\n")).toContain("not valid UTF-8");
  });

  test("garbage is a note, not a throw", async () => {
    for (const junk of [new Uint8Array([0, 1, 2, 3, 0xff]), "not xml at all <<<>>", "", "<testsuites><testsuites><testsuites>"]) {
      const outcome = await junitXmlParser.parse(await file(junk));
      expect(outcome.cases).toEqual([]);
      expect(outcome.notes.length).toBeGreaterThan(0);
    }
  });

  test("a 20 MB failure body is kept to MAX_CASE_MESSAGE_CHARS", async () => {
    const body = "x".repeat(20 * 1024 * 1024);
    const outcome = await junitXmlParser.parse(await file(REPORT(`<testcase classname="pkg.Suite" name="big"><failure message="short">${body}</failure></testcase>${CASE(2)}`)));
    expect(outcome.notes).toEqual([]);
    expect(outcome.cases.map((c) => c.name)).toEqual(["big", "case2"]);
    expect(outcome.cases[0]!.message!.length).toBeLessThan(MAX_CASE_MESSAGE_CHARS + 100);
    expect(outcome.cases[0]!.message).toContain("more characters cut");
  });

  test("an attribute past the token bound stops the parse with a note", async () => {
    const outcome = await junitXmlParser.parse(await file(REPORT(`${CASE(1)}<testcase classname="pkg.Suite" name="${"n".repeat(3 * 1024 * 1024)}"/>${CASE(3)}`)));
    expect(outcome.cases.map((c) => c.name)).toEqual(["case1"]);
    expect(outcome.notes.length).toBe(1);
  });

  // Found by the fuzz test: sax re-reads a `<!…` declaration at every character, so 2 MiB of one hung it.
  test("a long unknown <!… declaration stops the parse quickly", async () => {
    const path = await file(REPORT(`${CASE(1)}<![CDATA${",".repeat(2 * 1024 * 1024)}`));
    const started = performance.now();
    const outcome = await junitXmlParser.parse(path);
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(outcome.cases.map((c) => c.name)).toEqual(["case1"]);
    expect(outcome.notes[0]).toContain("is no comment, CDATA or DOCTYPE");
  });

  test("deep nesting stops at the depth bound", async () => {
    const outcome = await junitXmlParser.parse(await file(`${"<testsuite>".repeat(10_000)}${CASE(1)}`));
    expect(outcome.cases).toEqual([]);
    expect(outcome.notes[0]).toContain("nest deeper");
  });

  test("the case bound drops the rest with a note", async () => {
    const outcome = await junitXmlParser.parse(await file(REPORT(Array.from({ length: 50 }, (_, i) => CASE(i)).join(""))), { maxCases: 10 });
    expect(outcome.cases.length).toBe(10);
    expect(outcome.notes).toEqual(["junit-xml: 40 cases past the first 10 were dropped"]);
  });

  test("time that is no number is no duration; a classname equal to the name falls back to the testsuite's name", async () => {
    const outcome = await junitXmlParser.parse(await file(REPORT(`<testcase classname="x y" name="x y" time="abc"/><testcase name="n" time="-1"/><testcase name="o" time=".1e309"/>`)));
    expect(outcome.cases).toEqual([
      { suite: "pkg.Suite", name: "x y", status: "passed", durationMs: null, message: null, file: null, line: null },
      { suite: "pkg.Suite", name: "n", status: "passed", durationMs: null, message: null, file: null, line: null },
      // Found by the fuzzer: finite seconds that overflow to Infinity as ms.
      { suite: "pkg.Suite", name: "o", status: "passed", durationMs: null, message: null, file: null, line: null },
    ]);
  });

  test("a file that cannot be read is a note, not a throw", async () => {
    for (const parser of [junitXmlParser, gtestStdoutParser]) {
      const outcome = await parser.parse("/nonexistent/dt/report.xml");
      expect(outcome.cases).toEqual([]);
      expect(outcome.notes.length).toBe(1);
    }
  });

  test("the root element is found past a BOM, the declaration and comments", () => {
    const head = new TextEncoder().encode(`\uFEFF<?xml version="1.0"?>\n<!-- licence <b> -->\n<testsuite name="x" tests="1">`);
    expect(rootElement(head)).toEqual({ name: "testsuite", attributes: ` name="x" tests="1"` });
  });
});

describe("gtest stdout: broken and hostile output", () => {
  const stdout = async (text: string) => gtestStdoutParser.parse(await file(text), { exitCode: null, signal: "SIGSEGV" });

  test("coloured output (--gtest_color=yes) is read", async () => {
    const outcome = await stdout("\x1b[0;32m[ RUN      ] \x1b[mA.B\n\x1b[0;32m[       OK ] \x1b[mA.B (3 ms)\n");
    expect(outcome.cases).toEqual([{ suite: "A", name: "B", status: "passed", durationMs: 3, message: null, file: null, line: null }]);
  });

  test("a test printing an end line for another case does not end the running one; the crash names the signal", async () => {
    const outcome = await stdout("[ RUN      ] A.B\n[       OK ] X.Y (1 ms)\nsome output\n");
    expect(outcome.cases).toEqual([{ suite: "A", name: "B", status: "crashed", durationMs: null, message: "crashed (signal 11, SIGSEGV)\n[       OK ] X.Y (1 ms)\nsome output", file: null, line: null }]);
  });

  test("a megabyte line without a newline and a long failure stay bounded", async () => {
    const outcome = await stdout(`[ RUN      ] A.B\nx.cc:3: Failure\n${"y".repeat(5_000_000)}\n[  FAILED  ] A.B (7 ms)\n`);
    expect(outcome.cases[0]).toMatchObject({ status: "failed", durationMs: 7, file: "x.cc", line: 3 });
    expect(outcome.cases[0]!.message!.length).toBeLessThan(MAX_CASE_MESSAGE_CHARS + 100);
  });

  test("a RUN without an end before the next RUN is failed with a note", async () => {
    const outcome = await stdout("[ RUN      ] A.B\n[ RUN      ] A.C\n[       OK ] A.C (0 ms)\n");
    expect(outcome.cases.map((c) => [c.name, c.status])).toEqual([["B", "failed"], ["C", "passed"]]);
    expect(outcome.notes[0]).toContain("A.B has no end line");
  });

  test("CRLF line ends are read", async () => {
    const outcome = await stdout("[ RUN      ] A.B\r\nx.cc:3: Failure\r\n[  FAILED  ] A.B (7 ms)\r\n");
    expect(outcome.cases).toEqual([{ suite: "A", name: "B", status: "failed", durationMs: 7, message: "x.cc:3: Failure", file: "x.cc", line: 3 }]);
  });

  test("invalid UTF-8 is a note", async () => {
    const outcome = await gtestStdoutParser.parse(await file(Buffer.concat([Buffer.from("[ RUN      ] A.B\n"), Buffer.from([0xc3, 0x28]), Buffer.from("\n[       OK ] A.B (1 ms)\n")])));
    expect(outcome.cases.map((c) => c.status)).toEqual(["passed"]);
    expect(outcome.notes[0]).toContain("not valid UTF-8");
  });
});

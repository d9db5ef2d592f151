/**
 * A failed case's link into its log (`view_log?…&case=Suite.Name&at=file:line`):
 * the master finds the failure's line and redirects to the viewer at it,
 * over HTTP on a real master with a real uploaded log; and findCaseLine
 * over logs handed in chunks cut anywhere, lines straddling them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { outputKey } from "../../src/master/protocol.ts";
import { findCaseLine } from "../../src/web/log-find.ts";
import type { LogReader } from "../../src/web/log-window.ts";
import { type MasterFixture, drive, makeMaster, submit, withQuery } from "./fixture.ts";

const JOB = "find.alice.1700000000.1";
/** gtest's output for two cases, the second failing at line 7; 300 lines of chatter before it. */
const LOG = [
  "Note: Google Test filter = Suite.Fails:Suite.Passes",
  "[==========] Running 2 tests from 1 test suite.",
  "[ RUN      ] Suite.Passes",
  "[       OK ] Suite.Passes (0 ms)",
  "[ RUN      ] Suite.Fails",
  ...Array.from({ length: 300 }, (_, i) => `chatter ${i} mentions other.cc:7 and Suite.Passes`),
  "/home/build/src/tests/suite_test.cc:7: Failure",
  "Expected equality of these values:",
  "[  FAILED  ] Suite.Fails (1 ms)",
  "",
].join("\n");
const FAILURE_LINE = 306;
/** gtest's `[ RUN ]` line of the case, not the filter's note above it that names it first. */
const CASE_LINE = 5;

let fx: MasterFixture;
let server: ReturnType<typeof Bun.serve>;
let base: string;
let taskId: string;

beforeAll(async () => {
  fx = await makeMaster();
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: fx.app.fetch });
  base = `http://127.0.0.1:${server.port}`;
  [taskId] = await submit(fx, JOB, [{ description: "suite_test" }]);
  await drive(fx, "s1", () => "FAILED");
  await fx.master.deps.artifacts.put(outputKey(JOB, taskId!, 0, "stdout"), new TextEncoder().encode(LOG));
});
afterAll(async () => {
  await server?.stop(true);
  await fx?.close();
});

const link = (extra: Record<string, string>) => `${base}/${withQuery("view_log", { job_id: JOB, task_id: taskId, attempt: 0, log: "stdout", ...extra })}`;
const plain = () => withQuery("view_log", { job_id: JOB, task_id: taskId, attempt: 0, log: "stdout" });

describe("a case's link into its log", () => {
  test("redirects to the failure's line, the page starting at most 200 lines above it, within the case", async () => {
    const res = await fetch(link({ case: "Suite.Fails", at: "src/tests/suite_test.cc:7" }), { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(`${plain()}&line=${FAILURE_LINE - 200}#L${FAILURE_LINE}`);
    // Followed, the page holds the line the anchor names.
    const page = await (await fetch(`${base}/${res.headers.get("location")}`)).text();
    expect(page).toContain(`id="L${FAILURE_LINE}"`);
    expect(page).toContain("suite_test.cc:7: Failure");
  });

  test("without a place, or with one the log never prints, lands on the line that starts the case", async () => {
    for (const extra of [{ case: "Suite.Fails" }, { case: "Suite.Fails", at: "nowhere.cc:99" }] as Record<string, string>[]) {
      const res = await fetch(link(extra), { redirect: "manual" });
      expect(res.headers.get("location")).toBe(`${plain()}&line=${CASE_LINE}#L${CASE_LINE}`);
    }
  });

  test("a case the log never names lands on the log's end; an over-long name is a 400 naming the fields", async () => {
    const res = await fetch(link({ case: "Other.Case" }), { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(plain());
    const long = await fetch(link({ case: "x".repeat(1_001) }), { redirect: "manual" });
    expect(long.status).toBe(400);
    expect(await long.text()).toContain("case and at must be at most 1000 characters");
    // An unknown attempt is dist_test's message, as without a case.
    const unknown = await fetch(`${base}/${withQuery("view_log", { job_id: JOB, task_id: taskId, attempt: 5, log: "stdout", case: "Suite.Fails" })}`, { redirect: "manual" });
    expect(unknown.status).toBe(404);
  });
});

/** A LogReader over `text` whose scan hands it over in chunks of `size` bytes. */
function chunked(text: string, size: number): LogReader {
  const bytes = new TextEncoder().encode(text);
  return {
    readLog: async () => ({ bytes, size: bytes.byteLength, complete: true }),
    scanLog: async (_j, _t, _a, _s, end, visit) => {
      for (let at = 0; at < end; at += size) if (visit(bytes.subarray(at, Math.min(end, at + size)), at) === true) return;
    },
  };
}

describe("findCaseLine", () => {
  const ref = { jobId: "j", taskId: "t", attempt: 0, stream: "stdout" as const };
  test("finds the same lines whatever the chunks, lines straddling them included", async () => {
    for (const size of [1, 2, 7, 64, 4096, 1 << 20]) {
      const logs = chunked(LOG, size);
      expect({ size, found: await findCaseLine(logs, ref, LOG.length, "[ RUN      ] Suite.Fails", "suite_test.cc:7") }).toEqual({ size, found: { caseLine: CASE_LINE, line: FAILURE_LINE } });
    }
  });

  test("matches the place by its file's base name, only after the case starts; a last line without a newline counts", async () => {
    const text = "a.cc:1 before\n[ RUN ] T.x\nother/dir/a.cc:1: Failure";
    expect(await findCaseLine(chunked(text, 5), ref, text.length, "T.x", "/abs/path/a.cc:1")).toEqual({ caseLine: 2, line: 3 });
    expect(await findCaseLine(chunked("only T.x", 3), ref, 8, "T.x", null)).toEqual({ caseLine: 1, line: 1 });
    expect(await findCaseLine(chunked("", 3), ref, 0, "T.x", null)).toBeNull();
  });

  test("a case is not found inside a longer name, nor a place inside a longer file name or line number", async () => {
    // Suite.ParseEmpty runs first and fails at line 70 of the same file: neither is Suite.Parse's.
    const text = [
      "[ RUN      ] Suite.ParseEmpty", "/src/suite_test.cc:70: Failure", "[  FAILED  ] Suite.ParseEmpty",
      "[ RUN      ] MySuite.Parse", "/src/other_suite_test.cc:7: Failure", "[  FAILED  ] MySuite.Parse",
      "[ RUN      ] Suite.Parse", "/src/suite_test.cc:7: Failure", "[  FAILED  ] Suite.Parse", "",
    ].join("\n");
    for (const size of [1, 5, 64, 4096]) {
      expect({ size, found: await findCaseLine(chunked(text, size), ref, text.length, "Suite.Parse", "suite_test.cc:7") }).toEqual({ size, found: { caseLine: 7, line: 8 } });
      expect({ size, found: await findCaseLine(chunked(text, size), ref, text.length, "Suite.Parse", null) }).toEqual({ size, found: { caseLine: 7, line: 7 } });
    }
    // A name that ends in punctuation (pytest's parameters) still matches whatever follows it; one at the log's very end too.
    const py = "t.py::test_y[1]x\nlast Suite.Parse";
    expect(await findCaseLine(chunked(py, 3), ref, py.length, "t.py::test_y[1]", null)).toEqual({ caseLine: 1, line: 1 });
    expect(await findCaseLine(chunked(py, 3), ref, py.length, "Suite.Parse", null)).toEqual({ caseLine: 2, line: 2 });
  });

  test("a case named only inside a line longer than what is carried between chunks is still found, on the right line", async () => {
    const text = `first\n[ RUN ] T.y ${"z".repeat(200_000)}\nnoise\n/x/foo.cc:3: Failure\n`;
    for (const size of [4096, 65_536, 1 << 20]) {
      expect({ size, found: await findCaseLine(chunked(text, size), ref, text.length, "T.y", "foo.cc:3") }).toEqual({ size, found: { caseLine: 2, line: 4 } });
    }
    // The place inside a huge line after the case's, too.
    const place = `[ RUN ] T.y\n${"z".repeat(200_000)} foo.cc:3: Failure ${"z".repeat(200_000)}\n`;
    expect(await findCaseLine(chunked(place, 4096), ref, place.length, "T.y", "foo.cc:3")).toEqual({ caseLine: 1, line: 2 });
  });
});

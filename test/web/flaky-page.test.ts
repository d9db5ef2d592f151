/**
 * `/flaky`: the flaky cases for people, over HTTP on a master whose history
 * was stored through Repo.storeCases (the master's storage path) with
 * markup in every name and message: everything is escaped, the links (the
 * failing attempt's log, the case's history page and its JSON, the binary's
 * runs) lead where they say, a
 * malformed parameter is a 400 page naming it, and the index links here.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { CaseHistory } from "../../src/master/protocol.ts";
import type { CaseResult } from "../../src/results/model.ts";
import { type MasterFixture, makeMaster } from "./fixture.ts";

const SCRIPT = "<script>alert(1)</script>";
const IMG = `"><img src=x onerror=alert(1)>`;
const escape = (text: string) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;").replaceAll("'", "&#39;");
const BINARY = `bin ${SCRIPT}`;
const SUITE = `Suite${IMG}`;
const NAME = `name' onmouseover='alert(2)&x=<b>`;
const JOB = `evil"<job>&.1`;
const MESSAGE = `${SCRIPT}\nsecond line ${IMG}`;

let fx: MasterFixture;
let server: ReturnType<typeof Bun.serve>;
let base: string;

const run = (status: CaseResult["status"], message: string | null = null): CaseResult => ({ suite: SUITE, name: NAME, status, durationMs: 4, message, file: null, line: null });

beforeAll(async () => {
  fx = await makeMaster();
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: fx.app.fetch });
  base = `http://127.0.0.1:${server.port}`;
  const { repo } = fx.master.deps;
  const now = fx.clock.now();
  for (const [i, jobId] of [JOB, "calm.2"].entries()) {
    const taskId = `${"a".repeat(64)}.0`;
    await repo.createJob({ id: jobId, user: "alice", name: null, priority: 0, createdAt: now - 3_600_000 + i, canceledAt: null }, [
      { jobId, taskId, index: 0, isolateHash: "a".repeat(64), description: BINARY, timeoutSec: 0, maxRetries: 1, artifactGlobs: [], resultGlobs: null, env: {}, dimensions: {}, priority: 0, shardIndex: null, shardCount: null, caseFilter: null, caseSelection: null, retryMode: "cases", idempotent: false, taskKey: null },
    ], []);
    const at = (attempt: number) => ({ jobId, taskId, attempt, binary: BINARY, reportedAt: now - 1_000 + i * 10 + attempt });
    if (jobId === JOB) {
      await repo.storeCases(at(0), [run("failed", MESSAGE)]);
      await repo.storeCases(at(1), [run("passed")]);
    } else {
      await repo.storeCases(at(0), [run("passed")]);
    }
  }
});

afterAll(async () => {
  server?.stop(true);
  await fx?.close();
});

test("lists the flaky case with every name, id and message escaped, under the pages' security policy", async () => {
  const res = await fetch(`${base}/flaky`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
  const html = await res.text();
  for (const raw of [SCRIPT, "<img", "<b>", "<job>", "onmouseover='"]) expect(html).not.toContain(raw);
  expect(html).toContain("Flaky test cases (1)");
  const binaryLink = `tests/binary_history?${new URLSearchParams({ binary: BINARY })}`;
  expect(html).toContain(`<td class="mono"><a href="${escape(binaryLink)}">${escape(BINARY)}</a> › ${escape(`${SUITE}.`)}${escape(NAME)}</td>`);
  // Jobs 2, runs 3, failures 1, flaky 1, rate 50%.
  expect(html).toContain("<td>2</td><td>3</td><td>1</td><td>1</td><td>50.0%</td>");
  // The failure's first line only, escaped.
  expect(html).toContain(`<div class="note">${escape(SCRIPT)}</div>`);
  expect(html).not.toContain(escape("second line"));
  expect(html).toContain(`>${escape(JOB)}</a> (failed)`);
});

test("the log and history links lead to the failing attempt's log and the case's history page, which links its runs' jobs and logs", async () => {
  const html = await (await fetch(`${base}/flaky`)).text();
  const hrefs = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!.replaceAll("&amp;", "&"));
  const log = hrefs.find((h) => h.startsWith("view_log?"))!;
  const params = new URL(log, base).searchParams;
  expect([params.get("job_id"), params.get("task_id"), params.get("attempt"), params.get("log")]).toEqual([JOB, `${"a".repeat(64)}.0`, "0", "stdout"]);
  const job = hrefs.find((h) => h.startsWith("job?"))!;
  expect(new URL(job, base).searchParams.get("job_id")).toBe(JOB);
  const history = hrefs.find((h) => h.startsWith("tests/history?"))!;
  const page = await fetch(new URL(history, `${base}/`));
  expect(page.status).toBe(200);
  expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
  const text = await page.text();
  for (const raw of [SCRIPT, "<img", "<b>", "<job>"]) expect(text).not.toContain(raw);
  expect(text).toContain(`<h1 class="mono"><a href="${escape(`binary_history?${new URLSearchParams({ binary: BINARY })}`)}">${escape(BINARY)}</a>${escape(` › ${SUITE}.${NAME}`)}</h1>`);
  expect(text).toContain("The latest 3 runs, newest first; flaky in 50.0% of their tasks.");
  // The strip reads oldest to newest, a letter per run beside its colour; then the durations.
  expect([...text.matchAll(/<span title="(\w+) in job [^"]*"[^>]*>(\w)<\/span>/g)].map((m) => `${m[1]}:${m[2]}`)).toEqual(["failed:F", "passed:P", "passed:P"]);
  expect(text).toMatch(/<p id="durations">Durations of 3 timed runs: fastest [^,]+, median [^,]+, slowest [^<]+\.<\/p>/);
  // Its links climb back to the root's pages, and its JSON link is the API's answer for the same case.
  const links = [...text.matchAll(/href="([^"]*)"/g)].map((m) => new URL(m[1]!.replaceAll("&amp;", "&"), page.url));
  expect(links.filter((l) => l.pathname === "/view_log").map((l) => [l.searchParams.get("job_id"), l.searchParams.get("attempt")])).toEqual([["calm.2", "0"], [JOB, "1"], [JOB, "0"]]);
  expect(links.filter((l) => l.pathname === "/job").map((l) => l.searchParams.get("job_id"))).toEqual(["calm.2", JOB, JOB]);
  // The binary links to its runs over jobs, both from here and from the flaky page.
  const binaryPage = links.find((l) => l.pathname === "/tests/binary_history")!;
  expect(binaryPage.searchParams.get("binary")).toBe(BINARY);
  expect(hrefs.map((h) => new URL(h, `${base}/`).href)).toContain(binaryPage.href);
  const runs = await (await fetch(binaryPage)).text();
  expect(runs).toContain(`<h1 class="mono">${escape(BINARY)}</h1>`);
  expect([...runs.matchAll(/<a href="\.\.\/job\?job_id=[^"]+">([^<]+)<\/a>/g)].map((m) => m[1])).toEqual(["calm.2", escape(JOB)]);
  const json = links.find((l) => l.pathname === "/api/v1/tests/history")!;
  const body = (await (await fetch(json)).json()) as CaseHistory;
  expect([body.binary, body.suite, body.case]).toEqual([BINARY, SUITE, NAME]);
  expect(body.results.map((r) => [r.job_id, r.status])).toEqual([["calm.2", "passed"], [JOB, "passed"], [JOB, "failed"]]);
  const missing = await fetch(`${base}/tests/history?binary=x&suite=${encodeURIComponent(SCRIPT)}`);
  expect(missing.status).toBe(400);
  const missingText = await missing.text();
  expect(missingText).toContain("case: is required");
  expect(missingText).not.toContain(SCRIPT);
  // The windows one click away keep the other filters.
  expect(hrefs).toContain("flaky?since=30d");
  expect((await (await fetch(`${base}/flaky?since=30d&min_runs=2`)).text())).toContain(`href="flaky?since=1d&amp;min_runs=2"`);
});

test("a window without flaky cases says so; a malformed parameter is a 400 page naming it, its value escaped", async () => {
  const none = await fetch(`${base}/flaky?min_runs=3`);
  expect(none.status).toBe(200);
  expect(await none.text()).toContain("No test case was flaky in these jobs.");
  const bad = await fetch(`${base}/flaky?since=${encodeURIComponent(SCRIPT)}`);
  expect(bad.status).toBe(400);
  const html = await bad.text();
  expect(html).not.toContain(SCRIPT);
  expect(html).toContain(`since: cannot read ${escape(JSON.stringify(SCRIPT))} as a time`);
  const unknown = await fetch(`${base}/flaky?page=2`);
  expect(unknown.status).toBe(400);
  expect(await unknown.text()).toContain("page: is not a parameter of this request");
});

test("the index links to the page", async () => {
  const html = await (await fetch(`${base}/`)).text();
  expect(html).toContain(`<a href="flaky">flaky tests</a>`);
});

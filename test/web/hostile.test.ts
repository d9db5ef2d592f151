/**
 * Markup in everything a user or a test controls, end to end over HTTP: a
 * job submitted through both APIs with hostile descriptions and env, a
 * slave that streams, uploads and reports hostile logs and messages through
 * the slave API, then every page read back. No page carries the markup
 * unescaped, pages run no script but the live log's own and say so in
 * their Content-Security-Policy, and raw logs are served as text/plain with
 * nosniff.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Lease, outputKey } from "../../src/master/protocol.ts";
import { FOLLOW_SCRIPT } from "../../src/web/follow-script.ts";
import { LIVE_SCRIPT } from "../../src/web/live-script.ts";
import { type MasterFixture, hashOf, makeMaster, preText, withQuery } from "./fixture.ts";

const SCRIPT = "<script>alert(1)</script>";
const IMG = `"><img src=x onerror=alert(1)>`;
const HOSTILE = `${SCRIPT}${IMG}`;
/** What a test might print: both payloads, a closing </pre>, and an attribute break. */
const LOG = `start ${SCRIPT}\n</pre>${IMG}\n' onmouseover='alert(2)\ndone & gone\n`;
/** HTML escaping as hono/jsx writes it (Bun.escapeHTML spells ' as &#x27;). */
const escape = (text: string) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;").replaceAll("'", "&#39;");
const NATIVE_JOB = "evil.alice.1700000000.1";
const FORM_JOB = "evil.bob.1700000000.2";

let fx: MasterFixture;
let server: ReturnType<typeof Bun.serve>;
let base: string;
let finished: Lease;
let running: Lease;

const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

beforeAll(async () => {
  fx = await makeMaster();
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: fx.app.fetch });
  base = `http://127.0.0.1:${server.port}`;
  const created = await post("/api/v1/jobs", {
    job_id: NATIVE_JOB, user: "alice",
    tasks: [
      { isolate_hash: hashOf("a"), description: HOSTILE, env: { X_Y: HOSTILE, PAYLOAD: IMG }, artifact_archive_globs: ["logs/*"] },
      { isolate_hash: hashOf("b"), description: `live ${IMG}` },
    ],
  });
  expect(created.status).toBe(201);
  const form = await fetch(`${base}/submit_job`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ job_id: FORM_JOB, job_json: JSON.stringify({ tasks: [{ isolate_hash: hashOf("c"), description: `form ${SCRIPT}`, docker_image: IMG }] }) }).toString(),
  });
  expect(form.status).toBe(200);

  // A slave over the slave API: both of the first job's tasks, one run to a failure, one left running.
  const leased = await post("/api/v1/slave/lease", { slave: { name: "s1", slots: 4, dimensions: {}, version: "t" }, free: 4, wait_ms: 0 });
  const leases = ((await leased.json()) as { leases: Lease[] }).leases;
  finished = leases.find((l) => l.description === HOSTILE)!;
  running = leases.find((l) => l.description === `live ${IMG}`)!;
  expect(finished && running).toBeTruthy();
  for (const lease of [finished, running]) {
    for (const stream of ["stdout", "stderr"]) {
      const res = await fetch(`${base}/api/v1/slave/log?lease=${lease.lease_id}&stream=${stream}&offset=0`, { method: "POST", body: LOG });
      expect(res.status).toBe(200);
    }
  }
  for (const kind of ["stdout", "stderr"]) {
    expect((await fetch(`${base}/api/v1/slave/output?lease=${finished.lease_id}&kind=${kind}`, { method: "PUT", body: LOG })).status).toBe(200);
  }
  const t = fx.clock.now();
  const reported = await post("/api/v1/slave/result", {
    lease_id: finished.lease_id, job_id: finished.job_id, task_id: finished.task_id, attempt: finished.attempt, state: "FAILED", exit_code: 1, message: HOSTILE,
    times: { fetch_done_at: t, map_done_at: t, command_start_at: t, command_end_at: t + 1000, upload_done_at: t + 1000 },
    stdout_key: outputKey(finished.job_id, finished.task_id, finished.attempt, "stdout"), stderr_key: outputKey(finished.job_id, finished.task_id, finished.attempt, "stderr"),
    artifact_key: null, artifact_missing: false,
    // Test cases with markup in every field the job page shows of them.
    cases: [{ suite: HOSTILE, name: IMG, status: "failed", duration_ms: 1, message: LOG, file: `${IMG}.cc`, line: 1 }], result_format: "gtest-xml",
  });
  expect(reported.status, await reported.clone().text()).toBe(200);
});
afterAll(async () => {
  await server.stop(true);
  await fx.close();
});

/** A page over HTTP: its status, HTML type, the headers every answer must carry, and its text. */
async function page(path: string, status = 200): Promise<string> {
  const res = await fetch(`${base}${path}`);
  const html = await res.text();
  expect({ path, status: res.status }).toEqual({ path, status });
  expect(res.headers.get("content-type")).toStartWith("text/html");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("content-security-policy")).toStartWith("default-src 'none'; script-src 'sha256-");
  return html;
}

/** No markup of the payloads came through raw; dt's own scripts are the only ones. */
function expectNoInjection(path: string, html: string, ownScripts = 0): void {
  for (const raw of ["<script>alert", "<img", "onmouseover='alert", "</pre><img"]) expect({ path, found: html.includes(raw) ? raw : null }).toEqual({ path, found: null });
  expect({ path, scripts: html.split("<script").length - 1 }).toEqual({ path, scripts: ownScripts });
}

describe("every page over a hostile job", () => {
  test("a hostile name or user cannot even be submitted", async () => {
    for (const field of ["name", "user"]) {
      const res = await post("/api/v1/jobs", { [field]: HOSTILE, tasks: [{ isolate_hash: hashOf("d"), description: "d" }] });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toStartWith(`${field}:`);
    }
  });

  test("index, job, trace, view_log and log show the values escaped, and nothing else runs", async () => {
    const q = (path: string, lease: Lease, log: string) => withQuery(path, { job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt, log });
    const pages: [string, number, number][] = [
      // The index's live region.
      ["/", 200, 1],
      // Jobs still running: their pages' live region is the one script.
      [withQuery("/job", { job_id: NATIVE_JOB }), 200, 1],
      [withQuery("/job", { job_id: NATIVE_JOB, status: "failed" }), 200, 1],
      [withQuery("/job", { job_id: FORM_JOB }), 200, 1],
      [withQuery("/job", { job_id: HOSTILE }), 404, 0],
      [withQuery("/job", { job_id: NATIVE_JOB, status: HOSTILE }), 400, 0],
      [withQuery("/trace", { job_id: NATIVE_JOB }), 200, 0],
      [withQuery("/trace", { job_id: HOSTILE }), 404, 0],
      [q("/view_log", finished, "stdout"), 200, 0],
      [q("/view_log", finished, "stderr"), 200, 0],
      [q("/log", running, "stdout"), 200, 1],
      // A finished attempt's log is not followed: no script.
      [q("/log", finished, "stderr"), 200, 0],
    ];
    const html: Record<string, string> = {};
    for (const [path, status, scripts] of pages) {
      html[path] = await page(path, status);
      expectNoInjection(path, html[path]!, scripts);
    }
    // The values did reach the pages, escaped.
    const job = html[withQuery("/job", { job_id: NATIVE_JOB })]!;
    expect(job).toContain(`<span class="task-name">${escape(HOSTILE)}</span>`);
    expect(job).toContain(`<div class="note">${escape(HOSTILE)}</div>`);
    expect(job).toContain(escape(`live ${IMG}`));
    // The reported case, under its failed task: its suite, name, message and place.
    expect(job).toContain(`<span class="mono">${escape(HOSTILE)}.${escape(IMG)}</span>`);
    expect(job).toContain(`<pre class="note">${escape(LOG.split("\n").slice(0, 5).join("\n"))}`);
    expect(job).toContain(escape(`${IMG}.cc:1`));
    expect(html[withQuery("/job", { job_id: FORM_JOB })]).toContain(escape(`form ${SCRIPT}`));
    expect(html[withQuery("/trace", { job_id: NATIVE_JOB })]).toContain(escape(HOSTILE));
    for (const path of [q("/view_log", finished, "stdout"), q("/log", running, "stdout")]) {
      expect(preText(html[path]!)).toBe(LOG);
      for (const line of LOG.split("\n")) expect(html[path]).toContain(Bun.escapeHTML(line));
    }
    // The header names the task by its description, escaped.
    expect(html[q("/view_log", finished, "stdout")]).toContain(`<h1>${escape(HOSTILE)} <small>`);
    expect(html[withQuery("/job", { job_id: NATIVE_JOB, status: HOSTILE })]).toContain(escape(`Unknown status ${JSON.stringify(HOSTILE.slice(0, 40))}`));
    // The env is shown nowhere, escaped or not.
    for (const text of Object.values(html)) expect(text).not.toContain("X_Y");
  });

  test("the live log's, the index's and the live job page's scripts are exactly the ones the policy allows by hash", async () => {
    const pages: [string, string][] = [
      [withQuery("/log", { job_id: running.job_id, task_id: running.task_id, attempt: running.attempt, log: "stdout" }), FOLLOW_SCRIPT],
      ["/", LIVE_SCRIPT],
      [withQuery("/job", { job_id: NATIVE_JOB }), LIVE_SCRIPT],
    ];
    for (const [path, script] of pages) {
      const res = await fetch(`${base}${path}`);
      const policy = res.headers.get("content-security-policy")!;
      const inline = /<script>([\s\S]*?)<\/script>/.exec(await res.text())![1]!;
      expect(inline).toBe(script);
      const hash = new Bun.CryptoHasher("sha256").update(inline).digest("base64");
      expect(policy).toMatch(new RegExp(`^default-src 'none'; script-src [^;]*'sha256-${hash.replace(/[+/=]/g, "\\$&")}'[^;]*;`));
      expect(policy).not.toContain("unsafe-inline'; script");
      expect(policy).not.toMatch(/script-src [^;]*unsafe/);
      expect(policy).toContain("connect-src 'self'");
    }
  });

  test("raw logs are text/plain with nosniff, byte for byte, never HTML", async () => {
    const raws = [
      `/api/v1/artifacts/${outputKey(finished.job_id, finished.task_id, finished.attempt, "stdout")}`,
      `/api/v1/artifacts/${outputKey(finished.job_id, finished.task_id, finished.attempt, "stderr")}`,
      `/api/v1/jobs/${running.job_id}/log?task=${running.task_id}&attempt=${running.attempt}&stream=stdout`,
    ];
    for (const path of raws) {
      const res = await fetch(`${base}${path}`);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(await res.text()).toBe(LOG);
    }
    // dist_test's messages in place of a log are text too.
    const missing = await fetch(`${base}${withQuery("/view_log", { job_id: NATIVE_JOB, task_id: finished.task_id, attempt: 9, log: "stdout" })}`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toStartWith("text/plain");
    expect(missing.headers.get("x-content-type-options")).toBe("nosniff");
  });

  test("JSON answers that carry the values are application/json with nosniff", async () => {
    for (const path of [withQuery("/tasks", { job_id: NATIVE_JOB }), withQuery("/trace", { job_id: NATIVE_JOB, format: "json" }), `/api/v1/jobs/${NATIVE_JOB}/tasks`]) {
      const res = await fetch(`${base}${path}`);
      expect(res.headers.get("content-type")).toStartWith("application/json");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(await res.text()).toContain("alert(1)");
    }
  });
});

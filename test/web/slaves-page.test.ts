/**
 * `/slaves`: the registry for people, on a real server: states, holds with
 * who and why, running attempts, infrastructure failures; a reason full of
 * markup is shown as text.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { distTestRoutes } from "../../src/master/http/dist-test-api.ts";
import { HASH, report, serveTestMasterApp, slave } from "../master/helpers.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe("/slaves", () => {
  test("shows each slave's state, hold, running attempts and infrastructure failures, escaped", async () => {
    const served = await serveTestMasterApp((master) => [{ prefix: "/", app: distTestRoutes(master) }]);
    cleanups.push(served.stop);
    const { h, url: base } = served;
    const created = await h.master.submitJob({ tasks: [{ isolate_hash: HASH, description: "a" }, { isolate_hash: HASH, description: "b" }] });
    const [first, second] = await h.master.dispatcher.lease({ slave: slave("busy-1"), free: 2, wait_ms: 0 });
    await h.master.dispatcher.report({ ...report(first!, "INFRA_FAILED", h.clock.now()), message: "fetch failed: <b>503</b>" });
    await h.master.dispatcher.lease({ slave: { ...slave("sick-1", { gpu: "1" }), hold: { kind: "quarantine", by: "self", reason: "disk: <script>alert(1)</script>", since: h.clock.now() } }, free: 1, wait_ms: 0 });

    const res = await fetch(`${base}/slaves`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await res.text();
    // Relative, as every page's links: a master behind a path prefix keeps them.
    expect(html).toContain(`<a href="./">jobs</a>`);
    expect(html).not.toMatch(/href="\//);
    expect(html).toContain("idle 0, busy 1, draining 0, quarantined 1, lost 0");
    expect(html).toMatch(/<td class="mono">busy-1<\/td><td>busy<\/td>/);
    // Running and failed attempts by their task's name, linked to the log (the hash on hover) and to the job.
    expect(html).toContain(`title="${second!.task_id}">b</a> attempt 0 of job <a href="job?job_id=${encodeURIComponent(created.job_id)}">${created.job_id}</a>`);
    expect(html).toContain(`log?job_id=${encodeURIComponent(created.job_id)}&amp;task_id=${encodeURIComponent(second!.task_id)}&amp;attempt=0&amp;log=stdout`);
    expect(html).toContain(`title="${first!.task_id}">a attempt 0</a> of job`);
    expect(html).toContain("INFRA_FAILED");
    // What an operator types: a drain for a slave at work, a resume for a held one.
    expect(html).toContain("<code>dt slaves drain busy-1 --reason &quot;…&quot;</code>");
    expect(html).toContain("<code>dt slaves resume sick-1</code>");
    expect(html).toContain("fetch failed: &lt;b&gt;503&lt;/b&gt;");
    expect(html).toMatch(/<td>quarantined<\/td><td>quarantine by self since [^<]+: disk: &lt;script&gt;alert\(1\)&lt;\/script&gt;<div class="note">/);
    expect(html).toContain("gpu=1");
    expect(html).not.toContain("<script>");
    expect(html).toContain(`job?job_id=${encodeURIComponent(created.job_id)}`);
    // Query strings are ignored; only GET (and HEAD) is served.
    expect((await fetch(`${base}/slaves?x=<y>`)).status).toBe(200);
    for (const method of ["POST", "DELETE"]) expect((await fetch(`${base}/slaves`, { method })).status).toBe(404);
  });
});

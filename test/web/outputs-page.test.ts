/**
 * The outputs page (`/outputs`) and the job page's link to it, over HTTP,
 * with a real CAS holding a manifest of hostile file names: every name is
 * escaped, the page runs no script, a ref naming another CAS is shown but
 * never fetched by the master, and an attempt without outputs is a 404.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { CasClient } from "../../src/isolate/cas/client.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import { casOutputsReader } from "../../src/master/outputs-reader.ts";
import { DEFAULT_MAX_OUTPUTS_FILES } from "../../src/isolate/outputs/upload-outputs.ts";
import { MAX_LISTED_OUTPUTS } from "../../src/web/outputs-page.tsx";
import type { Lease } from "../../src/master/protocol.ts";
import { type TestCas, startCas } from "../helpers/cas.ts";
import { TempDirs } from "../helpers/temp.ts";
import { type MasterFixture, hashOf, makeMaster, withQuery } from "./fixture.ts";

const HOSTILE = `<script>alert(1)</script>"><img src=x onerror=alert(1)>`;
const temps = new TempDirs();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await temps.cleanup();
});

async function setup() {
  const dir = await temps.make("dt-outputs-page-");
  const cas = await startCas(join(dir, "cas"));
  const other = await startCas(join(dir, "other"));
  cleanups.push(() => cas.stop(), () => other.stop());
  const fx: MasterFixture = await makeMaster({ outputs: casOutputsReader(cas.url) });
  cleanups.push(() => fx.close());
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: fx.app.fetch });
  cleanups.push(() => void server.stop(true));
  const base = `http://127.0.0.1:${server.port}`;
  const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return { cas, other, fx, base, post };
}

async function putManifest(cas: TestCas, files: Record<string, unknown>): Promise<string> {
  const client = new CasClient(cas.url);
  const blob = digestOfBytes("report");
  await client.putBlob(blob, new TextEncoder().encode("report"));
  const bytes = new TextEncoder().encode(JSON.stringify({ algo: "sha-256", version: "1.4", files }));
  const d = digestOfBytes(bytes);
  await client.putBlob(d, bytes);
  return d.hash;
}

describe("the outputs page", () => {
  test("lists an attempt's files with links to their blobs, names escaped, under the pages' CSP; the job page links it; other CASes are not fetched", async () => {
    const s = await setup();
    const blob = digestOfBytes("report");
    const manifest = await putManifest(s.cas, {
      [`${HOSTILE}.xml`]: { h: blob.hash, s: blob.size, m: 0o640 },
      "sub/report.xml": { h: blob.hash, s: blob.size, m: 0o644 },
      link: { l: `sub/report.xml` },
    });
    await s.fx.master.submitJob({ job_id: "j", tasks: [{ isolate_hash: hashOf("a"), description: "a" }, { isolate_hash: hashOf("b"), description: "b" }, { isolate_hash: hashOf("c"), description: "c" }] });
    const leased = await s.post("/api/v1/slave/lease", { slave: { name: "s1", slots: 3, dimensions: {}, version: "t" }, free: 3, wait_ms: 0 });
    const leases = ((await leased.json()) as { leases: Lease[] }).leases.sort((x, y) => x.description.localeCompare(y.description));
    expect(leases).toHaveLength(3);
    const refs = [
      { isolated: manifest, isolatedserver: s.cas.url, namespace: "sha-256" },
      { isolated: manifest, isolatedserver: s.other.url, namespace: "sha-256" },
      null,
    ];
    for (const [i, lease] of leases.entries()) {
      const res = await s.post("/api/v1/slave/result", {
        lease_id: lease.lease_id, job_id: lease.job_id, task_id: lease.task_id, attempt: 0, state: "SUCCEEDED", exit_code: 0, message: null,
        times: {}, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false, outputs_ref: refs[i],
      });
      expect(res.status).toBe(200);
    }
    const page = async (lease: Lease, status: number) => {
      const res = await fetch(`${s.base}${withQuery("/outputs", { job_id: "j", task_id: lease.task_id, attempt: 0 })}`);
      expect(res.status).toBe(status);
      expect(res.headers.get("content-security-policy")).toStartWith("default-src 'none'");
      const html = await res.text();
      expect(html).not.toContain("<script>alert");
      expect(html).not.toContain("<img");
      expect(html.split("<script").length - 1).toBe(0);
      return html;
    };

    const listed = await page(leases[0]!, 200);
    const blobUrl = `${s.cas.url}/api/cas/v1/blobs/${blob.hash}`;
    expect(listed).toContain(`<a href="${blobUrl}">${Bun.escapeHTML(`${HOSTILE}.xml`).replaceAll("&#x27;", "&#39;")}</a>`);
    expect(listed).toContain(`<a href="${blobUrl}">sub/report.xml</a>`);
    expect(listed).toContain("link → sub/report.xml");
    expect(listed).toContain("<td class=\"mono\">0640</td>");
    expect(listed).toContain(`${s.cas.url}/api/cas/v1/blobs/${manifest}`);

    const elsewhere = await page(leases[1]!, 200);
    expect(elsewhere).toContain("This master does not read that CAS");
    expect(elsewhere).toContain(`${s.other.url}/api/cas/v1/blobs/${manifest}`);
    expect(s.other.requests).toEqual([]);

    expect(await page(leases[2]!, 404)).toContain(`Attempt 0 of task ${leases[2]!.task_id} has no outputs`);
    const unknown = await fetch(`${s.base}${withQuery("/outputs", { job_id: "j", task_id: HOSTILE, attempt: 0 })}`);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).not.toContain("<script>alert");
    expect((await fetch(`${s.base}${withQuery("/outputs", { job_id: "j", task_id: leases[0]!.task_id, attempt: "x" })}`)).status).toBe(400);

    const job = await (await fetch(`${s.base}/job?job_id=j`)).text();
    // Each in the task's row (its latest attempt) and in its attempts' table.
    for (const lease of leases.slice(0, 2)) expect(job.split(`<a href="${Bun.escapeHTML(withQuery("outputs", { job_id: "j", task_id: lease.task_id, attempt: 0 }))}">outputs</a>`).length - 1).toBe(2);
    expect(job.split(">outputs</a>").length - 1).toBe(4);
  });

  test(`a manifest of more entries than a slave uploads (${DEFAULT_MAX_OUTPUTS_FILES}) is not listed, refused before it is parsed whole; one at the cap lists ${MAX_LISTED_OUTPUTS} rows`, async () => {
    const s = await setup();
    // Symlinks are the smallest entries: a million of them fit in MAX_LISTED_MANIFEST_BYTES, and took 4 s of the event loop to list (measured).
    const links = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i.toString(36)}`, { l: "x" }]));
    const over = await putManifest(s.cas, links(DEFAULT_MAX_OUTPUTS_FILES + 1));
    const at = await putManifest(s.cas, links(DEFAULT_MAX_OUTPUTS_FILES));
    await s.fx.master.submitJob({ job_id: "many", tasks: [{ isolate_hash: hashOf("a"), description: "a" }, { isolate_hash: hashOf("b"), description: "b" }] });
    const leased = await s.post("/api/v1/slave/lease", { slave: { name: "s1", slots: 2, dimensions: {}, version: "t" }, free: 2, wait_ms: 0 });
    const leases = ((await leased.json()) as { leases: Lease[] }).leases.sort((x, y) => x.description.localeCompare(y.description));
    for (const [i, lease] of leases.entries()) {
      const res = await s.post("/api/v1/slave/result", {
        lease_id: lease.lease_id, job_id: lease.job_id, task_id: lease.task_id, attempt: 0, state: "SUCCEEDED", exit_code: 0, message: null,
        times: {}, stdout_key: null, stderr_key: null, artifact_key: null, artifact_missing: false, outputs_ref: { isolated: [over, at][i], isolatedserver: s.cas.url, namespace: "sha-256" },
      });
      expect(res.status).toBe(200);
    }
    const html = async (lease: Lease) => (await fetch(`${s.base}${withQuery("/outputs", { job_id: "many", task_id: lease.task_id, attempt: 0 })}`)).text();
    const refused = await html(leases[0]!);
    expect(refused).toContain(`Cannot list the outputs: outputs manifest ${over}: files: an object has more than ${DEFAULT_MAX_OUTPUTS_FILES} keys`);
    expect(refused).not.toContain("<tr><td");
    const listed = await html(leases[1]!);
    expect(listed.split("<tr><td").length - 1).toBe(MAX_LISTED_OUTPUTS);
    expect(listed).toContain(`and ${DEFAULT_MAX_OUTPUTS_FILES - MAX_LISTED_OUTPUTS} more files not listed`);
  });
});

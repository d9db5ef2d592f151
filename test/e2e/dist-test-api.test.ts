/**
 * dist_test's HTTP API on a real master and slave, called exactly as its
 * Python client (infra/client.py) and its autoscaler call it: form-encoded
 * /submit_job, /job_status polled until "finished", /tasks with its status
 * filters and absolute links, /cancel_job as a GET, /view_log, and the
 * index page scraped with the autoscaler's regex.
 */
import { describe, expect, test } from "bun:test";
import { unzipSync } from "fflate";
import type { DistTestTaskRecord } from "../../src/master/http/dist-test-api.ts";
import { shellScript } from "../helpers/tree.ts";
import { type Cluster, E2E_TEST_TIMEOUT_MS, pollUntil, useCluster } from "./cluster.ts";
import { RECORD_PID } from "./processes.ts";

const setup = useCluster();

/** The keys of dist_test's job_status summary, all ints but `status`. */
const JOB_STATUS_KEYS = [
  "total_tasks", "finished_tasks", "running_tasks", "retried_tasks", "timedout_tasks", "failed_tasks", "succeeded_tasks",
  "total_groups", "finished_groups", "failed_groups", "succeeded_groups", "flaky_groups", "flaky_tasks", "status",
];
/** infra/gce-autoscale.py's scrape of the index page; `.` does not cross a newline, as in Python's re.search. */
const AUTOSCALER_RE = /Queue length: (\d+).*Running: (\d+)/;

/** A GET with dist_test's parameters in the query, as urllib2 sent them; the answer as text. */
async function get(c: Cluster, path: string, params: Record<string, string | number>): Promise<{ status: number; type: string; text: string }> {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
  const res = await fetch(`${c.master!.url}${path}${query.size > 0 ? `?${query}` : ""}`);
  return { status: res.status, type: res.headers.get("content-type") ?? "", text: await res.text() };
}

async function getJson<T>(c: Cluster, path: string, params: Record<string, string | number>): Promise<T> {
  const res = await get(c, path, params);
  expect(res.status, `${path}: ${res.text}`).toBe(200);
  return JSON.parse(res.text) as T;
}

/** The client's submit: POST form-encoded job_id and job_json (a string holding {"tasks": [...]}). */
async function submitJob(c: Cluster, jobId: string, tasks: unknown[]): Promise<void> {
  const res = await fetch(`${c.master!.url}/submit_job`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ job_id: jobId, job_json: JSON.stringify({ tasks }) }).toString(),
  });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: "SUCCESS" });
}

async function pollJobStatus(c: Cluster, jobId: string): Promise<Record<string, unknown>> {
  let status: Record<string, unknown> = {};
  await pollUntil(async () => (status = await getJson(c, "/job_status", { job_id: jobId })).status === "finished", `job_status of ${jobId} to read finished`, 30_000);
  return status;
}

async function scrapeIndex(c: Cluster): Promise<{ queued: number; running: number }> {
  const page = await get(c, "/", {});
  const match = AUTOSCALER_RE.exec(page.text);
  if (!match) throw new Error(`the index page does not match ${AUTOSCALER_RE}: ${page.text.slice(0, 500)}`);
  return { queued: Number(match[1]), running: Number(match[2]) };
}

describe("dist_test's API, as its client calls it", () => {
  test("submit_job, job_status, tasks, view_log, cancel_job and the index page", async () => {
    const c = await setup();
    await c.startMaster();
    await c.startSlave("s1", 2);
    const tree = {
      "pass.sh": shellScript('echo "passed"\nmkdir -p build/test-logs\necho "log of pass" > build/test-logs/pass.txt'),
      "fail.sh": shellScript("echo 'expected <b>1</b> & got 2'\nexit 1"),
      "flaky.sh": shellScript('[ "$DT_ATTEMPT" = 0 ] && exit 1\necho "passed on retry"'),
      "long.sh": shellScript(`${RECORD_PID}\nexec sleep 30`),
    };
    const hash = (script: string) => c.archive(tree, [`./${script}`]);
    const [pass, fail, flaky, long] = [await hash("pass.sh"), await hash("fail.sh"), await hash("flaky.sh"), await hash("long.sh")];

    // dist_test's task JSON only: no env, no shards, timeout 0 meaning none.
    const jobId = "kudu.alice.1700000000.42";
    await submitJob(c, jobId, [
      { isolate_hash: pass, description: "pass_test", timeout: 0, max_retries: 0, artifact_archive_globs: ["build/*/**"] },
      { isolate_hash: fail, description: "fail_test", timeout: 0, max_retries: 0, artifact_archive_globs: [] },
      { isolate_hash: flaky, description: "flaky_test", timeout: 0, max_retries: 1, artifact_archive_globs: [] },
    ]);
    const status = await pollJobStatus(c, jobId);
    expect(Object.keys(status).sort()).toEqual([...JOB_STATUS_KEYS].sort());
    expect(status).toEqual({
      total_tasks: 4, finished_tasks: 4, running_tasks: 0, retried_tasks: 1, timedout_tasks: 0, failed_tasks: 2, succeeded_tasks: 2,
      total_groups: 3, finished_groups: 3, failed_groups: 1, succeeded_groups: 2, flaky_groups: 1, flaky_tasks: 1, status: "finished",
    });
    // The job id's user and name were taken from dist_test's id format.
    expect(await c.api.job(jobId)).toMatchObject({ user: "alice", name: "kudu" });

    const finished = await getJson<DistTestTaskRecord[]>(c, "/tasks", { job_id: jobId, status: "finished" });
    const rows = (records: DistTestTaskRecord[]) => records.map((r) => `${r.description}#${r.attempt}`).sort();
    expect(rows(finished)).toEqual(["fail_test#0", "flaky_test#0", "flaky_test#1", "pass_test#0"]);
    for (const r of finished) expect(r.task_id).toMatch(/^[0-9a-f]{64}\.\d+$/);
    const failed = await getJson<DistTestTaskRecord[]>(c, "/tasks", { job_id: jobId, status: "failed" });
    expect(rows(failed)).toEqual(["fail_test#0", "flaky_test#0"]);
    expect(await getJson(c, "/tasks", { job_id: jobId, status: "bogus" })).toEqual({ error: "Unknown status type bogus" });

    // The client downloads the links as they are: absolute URLs.
    const record = (description: string, attempt = 0) => finished.find((r) => r.description === description && r.attempt === attempt)!;
    const download = async (link: string | undefined) => {
      expect(link?.startsWith(`${c.master!.url}/`), `absolute link ${link}`).toBe(true);
      const res = await fetch(link!);
      expect(res.status).toBe(200);
      return new Uint8Array(await res.arrayBuffer());
    };
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    expect(text(await download(record("pass_test").stdout_link))).toBe("passed\n");
    expect(text(await download(record("fail_test").stdout_link))).toBe("expected <b>1</b> & got 2\n");
    expect(text(await download(record("flaky_test", 1).stdout_link))).toBe("passed on retry\n");
    // An empty log is not uploaded, so it has no link (dist_test's links were optional too).
    expect(record("fail_test").stderr_link).toBeUndefined();
    const zip = unzipSync(await download(record("pass_test").artifact_archive_link));
    expect(Object.keys(zip)).toContain("build/test-logs/pass.txt");
    expect(text(zip["build/test-logs/pass.txt"]!)).toBe("log of pass\n");

    const viewed = await get(c, "/view_log", { job_id: jobId, task_id: record("fail_test").task_id, attempt: 0, log: "stdout" });
    expect(viewed.status).toBe(200);
    expect(viewed.text).toContain("expected &lt;b&gt;1&lt;/b&gt; &amp; got 2");
    expect(viewed.text).not.toContain("<b>1</b>");
    expect((await get(c, "/view_log", { job_id: jobId, task_id: record("fail_test").task_id, attempt: 0, log: "bogus" })).text).toContain("Unknown log type");

    // Another job: three long tasks on two slots, scraped by the autoscaler, then canceled with a GET.
    const otherId = "bob.1700000100.7";
    await submitJob(c, otherId, [0, 1, 2].map((i) => ({ isolate_hash: long, description: `long_${i}`, timeout: 0, max_retries: 1, artifact_archive_globs: [] })));
    await pollUntil(async () => (await scrapeIndex(c)).running === 2, "the index page to show two running", 20_000);
    expect(await scrapeIndex(c)).toEqual({ queued: 1, running: 2 });
    expect(await getJson(c, "/job_status", { job_id: otherId })).toMatchObject({ status: "running", running_tasks: 3, finished_tasks: 0 });

    expect(await getJson(c, "/cancel_job", { job_id: otherId })).toEqual({ status: "SUCCESS" });
    // Canceled groups with retries left still read finished (dist_test's own job hung "running" here).
    expect(await getJson(c, "/job_status", { job_id: otherId })).toMatchObject({ status: "finished", finished_groups: 3, total_groups: 3, failed_groups: 3, succeeded_groups: 0 });
    await pollUntil(async () => (await scrapeIndex(c)).running === 0, "the index page to show nothing running after the cancel", 20_000);
    expect(await scrapeIndex(c)).toEqual({ queued: 0, running: 0 });
    // The first job is untouched by the other's cancel.
    expect(await getJson(c, "/job_status", { job_id: jobId })).toEqual(status);
  }, E2E_TEST_TIMEOUT_MS);
});

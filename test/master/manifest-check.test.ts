/**
 * The master refuses, at submit, a job whose manifest is not in its own CAS,
 * or would write outside its tree; nothing of the job is stored.
 */
import { afterEach, expect, test } from "bun:test";
import { CasClient } from "../../src/isolate/cas/client.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import { TempDirs } from "../helpers/temp.ts";
import { systemClock } from "../../src/common/clock.ts";
import { DtError } from "../../src/common/errors.ts";
import type { BlobStore } from "../../src/isolate/cas/blob-store.ts";
import { FsBlobStore } from "../../src/isolate/cas/fs-blob-store.ts";
import { MAX_PARSED_AT_SUBMIT_BYTES, type ManifestCheck, blobStoreManifestCheck, checkJobManifests } from "../../src/master/jobs/manifest-check.ts";
import { putManifest, serveTestMaster } from "./helpers.ts";

const temps = new TempDirs();
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  await temps.cleanup();
});

const FILE = { h: "b".repeat(64), s: 1, m: 420 };
const manifest = (files: string) => `{"algo":"sha-256","command":["./t"],"files":${files},"version":"1.4"}`;

const HOSTILE: [string, string, RegExp][] = [
  ["an absolute path", manifest(`{"/etc/cron.d/x": ${JSON.stringify(FILE)}}`), /is absolute/],
  ["a path climbing out", manifest(`{"../../x": ${JSON.stringify(FILE)}}`), /'\.\.'/],
  ["a path given twice", manifest(`{"a": ${JSON.stringify(FILE)}, "a": ${JSON.stringify({ ...FILE, s: 2 })}}`), /twice|repeated|duplicate/i],
  ["a symlink out of the tree", manifest('{"lib": {"l": "../../../etc"}}'), /points outside the tree/],
  ["not a manifest at all", "#!/bin/sh\necho hi\n", /not valid JSON|JSON/],
];

test("a job naming a hostile manifest in the master's CAS is a 400 naming the task and the reason; nothing is stored", async () => {
  const server = await serveTestMaster(await temps.make("dt-manifest-check-"));
  stops.push(() => server.stop(100));
  const cas = new CasClient(server.url);
  const upload = async (text: string) => {
    const bytes = new TextEncoder().encode(text);
    const digest = digestOfBytes(bytes);
    await cas.putBlob(digest, bytes);
    return digest.hash;
  };
  const good = await upload(manifest(`{"t": ${JSON.stringify(FILE)}}`));
  const submit = (jobId: string, hashes: string[]) =>
    fetch(`${server.url}/api/v1/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ job_id: jobId, tasks: hashes.map((h, i) => ({ isolate_hash: h, description: `t${i}` })) }) });

  for (const [what, text, reason] of HOSTILE) {
    const hash = await upload(text);
    const jobId = `hostile.${HOSTILE.findIndex((h) => h[0] === what)}.1`;
    const res = await submit(jobId, [good, hash, hash]);
    const body = (await res.json()) as { error: string; code: string };
    expect([what, res.status, body.code]).toEqual([what, 400, "invalid_input"]);
    expect(body.error).toStartWith("tasks[1].isolate_hash (t1): the manifest is refused: ");
    expect(body.error).toMatch(reason);
    expect((await fetch(`${server.url}/api/v1/jobs/${jobId}`)).status).toBe(404);
    // dist_test's form API goes through the same check.
    const form = await fetch(`${server.url}/submit_job`, { method: "POST", body: new URLSearchParams({ job_id: `${jobId}9`, job_json: JSON.stringify({ tasks: [{ isolate_hash: hash, description: "x" }] }) }) });
    expect(form.status).toBe(400);
  }
  expect((await submit("fine.1.1", [good, good])).status).toBe(201);
});

test("a job naming a manifest the master's CAS does not have is a 400 naming the task, the digest and the CAS; nothing is stored, in both APIs", async () => {
  const server = await serveTestMaster(await temps.make("dt-manifest-missing-"));
  stops.push(() => server.stop(100));
  const good = await putManifest(server.url);
  const absent = "c".repeat(64);
  const native = await fetch(`${server.url}/api/v1/jobs`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ job_id: "missing.1.1", tasks: [{ isolate_hash: good, description: "ok" }, { isolate_hash: absent, description: "never archived" }] }),
  });
  expect(native.status).toBe(400);
  expect(await native.json()).toEqual({
    code: "invalid_input",
    error: `tasks[1].isolate_hash (never archived): manifest ${absent} is not in the CAS at ${server.url}; did you run dt archive against ${server.url}?`,
  });
  expect((await fetch(`${server.url}/api/v1/jobs/missing.1.1`)).status).toBe(404);

  // dist_test's /submit_job: the same refusal, as its client shows a 400's body.
  const form = await fetch(`${server.url}/submit_job`, { method: "POST", body: new URLSearchParams({ job_id: "missing.1.2", job_json: JSON.stringify({ tasks: [{ isolate_hash: absent, description: "x" }] }) }) });
  expect(form.status).toBe(400);
  expect(await form.text()).toContain(`manifest ${absent} is not in the CAS at ${server.url}; did you run dt archive against ${server.url}?`);
  expect((await fetch(`${server.url}/api/v1/jobs/missing.1.2`)).status).toBe(404);
  expect((await (await fetch(`${server.url}/api/v1/jobs`)).json())).toEqual({ jobs: [] });
});

test("100,000 tasks over 1,000 manifests, some missing: one look per distinct manifest; the error counts the tasks affected", async () => {
  const store = await FsBlobStore.open(await temps.make("dt-manifest-batch-"), systemClock);
  stops.push(() => store.close());
  const looks = { sizeOf: 0, get: 0 };
  const counted: BlobStore = Object.assign(Object.create(store), {
    sizeOf: (hash: string) => (looks.sizeOf++, store.sizeOf(hash)),
    get: (hash: string) => (looks.get++, store.get(hash)),
  });
  const hashes: string[] = [];
  for (let i = 0; i < 1_000; i++) {
    const bytes = new TextEncoder().encode(manifest(`{"t${i}": ${JSON.stringify(FILE)}}`));
    const digest = digestOfBytes(bytes);
    await store.put(digest, bytes);
    hashes.push(digest.hash);
  }
  const tasks = Array.from({ length: 100_000 }, (_, i) => ({ isolateHash: hashes[i % 1_000]!, description: `t${i}` }));
  const check = blobStoreManifestCheck(counted, "http://cas.test");
  const started = performance.now();
  await checkJobManifests(tasks, check);
  const elapsed = performance.now() - started;
  expect(looks).toEqual({ sizeOf: 1_000, get: 1_000 });
  console.log(`checked 100,000 tasks over 1,000 manifests in ${elapsed.toFixed(0)} ms`);

  // Two manifests gone: tasks 7, 1007, 2007, … and 9, 1009, …: 200 tasks, the first named.
  await store.delete(hashes[7]!);
  await store.delete(hashes[9]!);
  const error = await checkJobManifests(tasks, check).then(() => null, (err: unknown) => err);
  expect(error).toBeInstanceOf(DtError);
  expect((error as DtError).code).toBe("invalid_input");
  expect((error as DtError).message).toBe(
    `tasks[7].isolate_hash (t7): manifest ${hashes[7]} is not in the CAS at http://cas.test; did you run dt archive against http://cas.test?` +
      " (also tasks[9].isolate_hash (t9), tasks[1007].isolate_hash (t1007), tasks[1009].isolate_hash (t1009) and 196 more tasks; 2 distinct manifests missing)",
  );
});

test("a CAS that fails while checking is the master's trouble (not a 400)", async () => {
  const failing: ManifestCheck = async () => {
    throw new DtError("unreachable", "GET s3://bucket/x: 503 Slow Down");
  };
  const error = await checkJobManifests([{ isolateHash: "c".repeat(64), description: "t" }], failing).then(() => null, (err: unknown) => err);
  expect((error as DtError).code).toBe("unreachable");
});

test("a CAS failing during the check: the 503 names the task and says the job was not stored", async () => {
  const failing: ManifestCheck = async () => {
    throw new DtError("unreachable", "HEAD s3://bucket/blobs/c: 503 Slow Down");
  };
  const error = (await checkJobManifests([{ isolateHash: "c".repeat(64), description: "t" }], failing).then(() => null, (err: unknown) => err)) as DtError;
  expect(error.message).toBe(
    "tasks[0].isolate_hash (t): could not check the manifest: HEAD s3://bucket/blobs/c: 503 Slow Down; the job was not stored: submit it again once the CAS answers",
  );
});

test("a slow CAS: the check ends at its budget; manifests not looked at by then pass unchecked", async () => {
  // The first 40 manifests are answered at once; the rest never are, as from a CAS that slowed to a crawl.
  const answered = new Set(Array.from({ length: 40 }, (_, i) => `${i}`.padStart(64, "0")));
  const slow: ManifestCheck = (hash) => (answered.has(hash) ? Promise.resolve() : new Promise<void>(() => {}));
  const tasks = Array.from({ length: 1_000 }, (_, i) => ({ isolateHash: `${i}`.padStart(64, "0"), description: `t${i}` }));
  const started = performance.now();
  const result = await checkJobManifests(tasks, slow, 300);
  expect(performance.now() - started).toBeLessThan(10_000);
  expect(result).toEqual({ manifests: 1_000, unchecked: 960 });
});

test("a CAS that answers none of the looks within the budget: a 503 saying so, not a hang", async () => {
  const hung: ManifestCheck = () => new Promise<void>(() => {});
  const error = (await checkJobManifests([{ isolateHash: "c".repeat(64), description: "t" }, { isolateHash: "d".repeat(64), description: "u" }], hung, 200).then(
    () => null,
    (err: unknown) => err,
  )) as DtError;
  expect(error.code).toBe("unreachable");
  expect(error.message).toBe("tasks[0].isolate_hash (t): the CAS answered none of the job's 2 manifest looks within 0.2 s; the job was not stored: submit it again once the CAS answers");
});

test("a manifest bigger than MAX_PARSED_AT_SUBMIT_BYTES is looked for but not read at submit (32 of them would hold GiBs in the master)", async () => {
  const store = await FsBlobStore.open(await temps.make("dt-manifest-big-"), systemClock);
  stops.push(() => store.close());
  const reads: string[] = [];
  const counted: BlobStore = Object.assign(Object.create(store), { get: (hash: string) => (reads.push(hash), store.get(hash)) });
  const big = new Uint8Array(MAX_PARSED_AT_SUBMIT_BYTES + 1).fill(0x20);
  const digest = digestOfBytes(big);
  await store.put(digest, big);
  const small = new TextEncoder().encode(manifest(`{"t": ${JSON.stringify(FILE)}}`));
  const smallDigest = digestOfBytes(small);
  await store.put(smallDigest, small);
  await checkJobManifests([{ isolateHash: digest.hash, description: "big" }, { isolateHash: smallDigest.hash, description: "small" }], blobStoreManifestCheck(counted, "http://cas.test"));
  expect(reads).toEqual([smallDigest.hash]);
});

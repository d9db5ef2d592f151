/**
 * The master refuses, at submit, a job whose manifest in its own CAS would
 * write outside its tree; nothing of the job is stored.
 */
import { afterEach, expect, test } from "bun:test";
import { CasClient } from "../../src/isolate/cas/client.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import { TempDirs } from "../helpers/temp.ts";
import { serveTestMaster } from "./helpers.ts";

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
  // A good manifest, and one not uploaded yet (the slave reports the missing tree), pass.
  expect((await submit("fine.1.1", [good, "c".repeat(64)])).status).toBe(201);
});

import { describe, expect, test } from "bun:test";
import { CasClient } from "../../src/isolate/cas/client.ts";
import { parseIsolated } from "../../src/isolate/manifest.ts";
import { shellScript } from "../helpers/tree.ts";
import { resultOf, useSlaveSetup } from "./harness.ts";

const setup = useSlaveSetup();
const TEST_TIMEOUT_MS = 30_000;

/** Writes a report and a 3000-byte file into $ISOLATED_OUTDIR, plus a glob-matched artifact into the tree, then exits $CODE. */
const WRITER = shellScript('mkdir -p "$ISOLATED_OUTDIR/logs"\necho "<testsuites/>" > "$ISOLATED_OUTDIR/report.xml"\nhead -c 3000 /dev/zero > "$ISOLATED_OUTDIR/logs/core"\necho art > art.log\nexit "${CODE:-0}"');

describe("dt slave outputs", () => {
  test("uploads ISOLATED_OUTDIR as a tree and reports its outputs_ref; artifacts globs still work beside it; an attempt with an empty outdir reports none", async () => {
    const s = await setup();
    const hash = await s.archive({ "w.sh": WRITER }, { command: ["./w.sh"] });
    const quiet = await s.archive({ "q.sh": shellScript("exit 0") }, { command: ["./q.sh"] });
    const [lease, quietLease] = s.master.push({ isolate_hash: hash, env: { CODE: "4" }, artifact_archive_globs: ["*.log"] }, { isolate_hash: quiet });
    s.startSlave();
    const result = await resultOf(s.master, lease!.lease_id);
    // A failing test keeps its own state and gets its outputs all the same.
    expect(result).toMatchObject({ state: "FAILED", exit_code: 4, message: null, artifact_missing: false, artifact_key: expect.any(String) });
    expect(result.outputs_ref).toEqual({ isolated: expect.stringMatching(/^[0-9a-f]{64}$/), isolatedserver: s.cas.url, namespace: "sha-256" });
    const manifest = parseIsolated(await new CasClient(s.cas.url).getBytes(result.outputs_ref!.isolated), "outputs");
    expect(Object.keys(manifest.files).sort()).toEqual(["logs/core", "report.xml"]);
    expect((await resultOf(s.master, quietLease!.lease_id)).outputs_ref).toBeNull();
  }, TEST_TIMEOUT_MS);

  test("outputs over --max-outputs-size: a passed test stays SUCCEEDED, nothing is uploaded, and the message says how much and which flag", async () => {
    const s = await setup();
    const hash = await s.archive({ "w.sh": WRITER }, { command: ["./w.sh"] });
    const [lease] = s.master.push({ isolate_hash: hash });
    const uploads = () => s.cas.requests.filter((r) => r.startsWith("PUT ") || r === "POST /batch" || r === "POST /missing").length;
    const before = uploads();
    s.startSlave({ maxOutputsBytes: 1024 });
    const result = await resultOf(s.master, lease!.lease_id);
    expect(result).toMatchObject({ state: "SUCCEEDED", exit_code: 0, outputs_ref: null });
    expect(result.message).toBe("outputs of 2.9 KiB exceed --max-outputs-size 1024; nothing uploaded");
    expect(uploads()).toBe(before);
  }, TEST_TIMEOUT_MS);

  test("a CAS that fails the upload (after the client's retries): the result stands, outputs_ref is null and the message says the outputs were not uploaded", async () => {
    const s = await setup();
    const hash = await s.archive({ "w.sh": shellScript('echo x > "$ISOLATED_OUTDIR/r.xml"') }, { command: ["./w.sh"] });
    const [lease] = s.master.push({ isolate_hash: hash });
    // Fetching the inputs never asks /missing; uploading always does first: so only the upload meets the failing CAS.
    let refused = 0;
    const casFetch = (async (input: string | URL | Request, init?: RequestInit) => {
      if (String(input).endsWith("/missing")) {
        refused++;
        return Response.json({ error: "the test made this CAS fail", code: "unreachable" }, { status: 503, headers: { "Dt-Cas": "1" } });
      }
      return fetch(input, init);
    }) as typeof fetch;
    s.startSlave({ casFetch });
    const result = await resultOf(s.master, lease!.lease_id, 20_000);
    expect(result).toMatchObject({ state: "SUCCEEDED", exit_code: 0, outputs_ref: null });
    expect(result.message).toMatch(/^outputs not uploaded: POST missing.*503/);
    // Retried as every CAS request is, then given up.
    expect(refused).toBe(4);
  }, TEST_TIMEOUT_MS);
});

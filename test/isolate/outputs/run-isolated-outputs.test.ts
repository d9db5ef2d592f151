import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../../src/common/log.ts";
import { archiveTargets, targetFromPaths } from "../../../src/isolate/archive/archive.ts";
import { CasClient } from "../../../src/isolate/cas/client.ts";
import { parseIsolated } from "../../../src/isolate/manifest.ts";
import type { RunIsolatedResult } from "../../../src/isolate/run/run-isolated.ts";
import { startCas } from "../../helpers/cas.ts";
import { CLI_TEST_TIMEOUT_MS, cliEnv, runCli } from "../../helpers/cli.ts";
import { useCliCleanup } from "../../helpers/scratch.ts";
import { shellScript, writeTree } from "../../helpers/tree.ts";

const { temps, servers } = useCliCleanup();

/** A tree whose command writes two files into $ISOLATED_OUTDIR and exits with $1. */
async function setup() {
  const dir = await temps.make("dt-run-outputs-");
  const cas = await startCas(join(dir, "cas"));
  servers.push(cas);
  const root = join(dir, "tree");
  await writeTree(root, {
    "t.sh": shellScript('mkdir -p "$ISOLATED_OUTDIR/sub"\necho "<testsuites/>" > "$ISOLATED_OUTDIR/report.xml"\nhead -c 4000 /dev/zero > "$ISOLATED_OUTDIR/sub/core"\nexit "$1"'),
  });
  const { results } = await archiveTargets([targetFromPaths({ root, paths: ["."], command: ["./t.sh"] })], { cas: new CasClient(cas.url), log: createLogger({ level: "silent" }) });
  const run = (args: string[]) =>
    runCli(["run-isolated", "-H", results[0]!.digest.hash, "-I", cas.url, "--cache", join(dir, "cache"), "--root-dir", join(dir, "runs"), "--json", "r.json", ...args], { cwd: dir, env: cliEnv(join(dir, "home")) });
  const json = (): RunIsolatedResult => JSON.parse(readFileSync(join(dir, "r.json"), "utf8"));
  return { dir, cas, run, json };
}

describe("dt run-isolated outputs", () => {
  test("uploads ISOLATED_OUTDIR and puts outputs_ref in --json, for a failing test too; --leak-temp-dir says where the outdir is", async () => {
    const s = await setup();
    const r = await s.run(["--leak-temp-dir", "--", "1"]);
    expect(r.exitCode).toBe(1);
    const result = s.json();
    expect(result.outputs_ref).toEqual({ isolated: expect.stringMatching(/^[0-9a-f]{64}$/), isolatedserver: s.cas.url, namespace: "sha-256" });
    expect(result.outputs_note).toBeNull();
    expect(result.stats.outputs).toEqual({ files: 2, bytes: 4014, uploaded_items: 3, uploaded_bytes: expect.any(Number) });
    const manifest = parseIsolated(await new CasClient(s.cas.url).getBytes(result.outputs_ref!.isolated), "outputs");
    expect(Object.keys(manifest.files).sort()).toEqual(["report.xml", "sub/core"]);
    // The outdir is kept with the run directory, and the notice names it.
    expect(r.stderr).toContain(`Deliberately leaking ${result.run_dir} for later examination (outputs: ${result.output_dir})`);
    expect(readFileSync(join(result.output_dir!, "report.xml"), "utf8")).toBe("<testsuites/>\n");
    expect(r.stderr).toContain(`outputs: 2 files in ${s.cas.url} as ${result.outputs_ref!.isolated}`);
  }, CLI_TEST_TIMEOUT_MS);

  test("over --max-outputs-size: exit code unchanged, no outputs_ref, a note saying how much and which flag", async () => {
    const s = await setup();
    const uploadsBefore = s.cas.requests.filter((req) => req.startsWith("PUT ") || req === "POST /batch" || req === "POST /missing");
    const r = await s.run(["--max-outputs-size", "1KiB", "--", "0"]);
    expect(r.exitCode).toBe(0);
    const result = s.json();
    expect(result).toMatchObject({ exit_code: 0, internal_failure: null, task_error: null, outputs_ref: null });
    expect(result.outputs_note).toBe("outputs of 3.9 KiB exceed --max-outputs-size 1KiB; nothing uploaded");
    expect(r.stderr).toContain(result.outputs_note!);
    // The inputs were archived before; since then only reads and no upload.
    expect(s.cas.requests.filter((req) => req.startsWith("PUT ") || req === "POST /batch" || req === "POST /missing")).toEqual(uploadsBefore);
  }, CLI_TEST_TIMEOUT_MS);

  test("a bad --max-outputs-size is refused before anything runs", async () => {
    const s = await setup();
    const r = await s.run(["--max-outputs-size", "lots"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('--max-outputs-size: cannot read "lots" as a size');
    expect(existsSync(join(s.dir, "r.json"))).toBe(false);
  }, CLI_TEST_TIMEOUT_MS);
});

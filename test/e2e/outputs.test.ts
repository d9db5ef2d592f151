/**
 * Outputs on real processes: `dt master` with a separate CAS (so its
 * requests can be counted), a `dt slave`, `dt submit` and `dt fetch -o`. A
 * flaky task writes the same files in both its attempts (the second
 * uploads nothing), one task writes more than the slave's
 * --max-outputs-size (it still passes, its message says why nothing was
 * uploaded), and fetch -o gives back the files byte for byte with modes.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { safe } from "../../src/client/fetch.ts";
import { type TestCas, startCas } from "../helpers/cas.ts";
import { TempDirs } from "../helpers/temp.ts";
import { shellScript } from "../helpers/tree.ts";
import { E2E_TEST_TIMEOUT_MS, taskNamed, useCluster } from "./cluster.ts";

const temps = new TempDirs();
let cas: TestCas;
beforeEach(async () => {
  cas = await startCas(join(await temps.make("dt-e2e-outputs-cas-"), "cas"));
});
afterEach(async () => {
  await cas.stop();
  await temps.cleanup();
});
const setup = useCluster("dt-e2e-outputs-", { masterArgs: () => ["--isolate-server", cas.url], casUrl: () => cas.url });

const SUITE = {
  // The same outputs in every attempt; the first attempt fails, the second passes.
  "flaky.sh": shellScript([
    'cd "$ISOLATED_OUTDIR"',
    "mkdir -p logs/deep",
    'printf "<testsuites tests=\\"1\\"/>" > report.xml',
    'printf "\\000\\001\\377binary" > logs/deep/data.bin',
    'printf "#!/bin/sh\\necho hi\\n" > run.sh && chmod 750 run.sh',
    "chmod 600 report.xml",
    "ln -s logs/deep/data.bin latest",
    '[ "$DT_ATTEMPT" = 0 ] && exit 1',
    "exit 0",
  ].join("\n")),
  "big.sh": shellScript('head -c 6000 /dev/zero > "$ISOLATED_OUTDIR/big.bin"'),
};

test("outputs: recorded per attempt, uploaded once for two equal attempts, capped without failing the test, fetched back by fetch -o", async () => {
  const c = await setup();
  await c.startMaster();
  await c.startSlave("s1", 1, ["--max-outputs-size", "4KiB"]);
  const tasks = [
    { isolate_hash: await c.archive(SUITE, ["./flaky.sh"]), description: "flaky_outputs", max_retries: 1 },
    { isolate_hash: await c.archive(SUITE, ["./big.sh"]), description: "big_outputs" },
  ];
  writeFileSync(join(c.dir, "tasks.json"), JSON.stringify({ tasks }));
  const uploadsBefore = cas.count("POST /batch") + cas.requests.filter((r) => r.startsWith("PUT ")).length;
  const submitted = await c.dt(["submit", "tasks.json", "--poll-interval", "0.2"]);
  expect(submitted.exitCode, submitted.stderr).toBe(0);
  const jobId = readFileSync(join(c.env.HOME!, ".dist-test-last-job"), "utf8");

  const views = await c.api.tasks(jobId);
  const flaky = taskNamed(views, "flaky_outputs");
  expect(flaky.attempts.map((a) => a.state)).toEqual(["FAILED", "SUCCEEDED"]);
  const [first, second] = flaky.attempts;
  expect(first!.outputs_ref).toEqual({ isolated: expect.stringMatching(/^[0-9a-f]{64}$/), isolatedserver: cas.url, namespace: "sha-256" });
  // Equal files, equal tree, one digest.
  expect(second!.outputs_ref).toEqual(first!.outputs_ref);
  // The first attempt's four files went in one batch and its manifest in another; the second's found all present.
  expect(cas.count("POST /batch") + cas.requests.filter((r) => r.startsWith("PUT ")).length - uploadsBefore).toBe(2);

  const big = taskNamed(views, "big_outputs");
  expect(big.attempts).toHaveLength(1);
  expect(big.attempts[0]).toMatchObject({ state: "SUCCEEDED", outputs_ref: null, message: "outputs of 5.9 KiB exceed --max-outputs-size 4KiB; nothing uploaded" });

  // fetch -o: both attempts of the flaky task, byte for byte, modes and the symlink; nothing for the capped one.
  const out = join(c.dir, "out");
  const fetched = await c.dt(["fetch", "-o", "-d", out, jobId]);
  expect(fetched.exitCode, fetched.stderr).toBe(0);
  expect(fetched.stderr).toContain("2 outputs trees (8 files)");
  expect(readdirSync(out)).toEqual([safe(flaky.task_id)]);
  for (const attempt of ["0", "1"]) {
    const dir = join(out, safe(flaky.task_id), attempt);
    expect(readFileSync(join(dir, "report.xml"), "utf8")).toBe('<testsuites tests="1"/>');
    expect([...readFileSync(join(dir, "logs/deep/data.bin"))]).toEqual([0, 1, 255, ...new TextEncoder().encode("binary")]);
    expect(readFileSync(join(dir, "run.sh"), "utf8")).toBe("#!/bin/sh\necho hi\n");
    expect(statSync(join(dir, "run.sh")).mode & 0o777).toBe(0o750);
    expect(statSync(join(dir, "report.xml")).mode & 0o777).toBe(0o600);
    expect(lstatSync(join(dir, "latest")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, "latest"))).toBe("logs/deep/data.bin");
  }
  // -f: only the attempt that did not succeed.
  const failedOnly = join(c.dir, "failed");
  expect((await c.dt(["fetch", "-o", "-f", "-d", failedOnly, jobId])).exitCode).toBe(0);
  expect(readdirSync(join(failedOnly, safe(flaky.task_id)))).toEqual(["0"]);
  expect(existsSync(join(failedOnly, safe(big.task_id)))).toBe(false);
}, E2E_TEST_TIMEOUT_MS);

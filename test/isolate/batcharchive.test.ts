import { describe, expect, test } from "bun:test";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CasClient } from "../../src/isolate/cas/client.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import { parseIsolated } from "../../src/isolate/manifest.ts";
import { CLI_TEST_TIMEOUT_MS, jsonLogLines } from "../helpers/cli.ts";
import { useScratch } from "../helpers/scratch.ts";
import { shellScript, writeTree } from "../helpers/tree.ts";

const setup = useScratch("dt-batch-");

/**
 * What Kudu's build-support/dist_test.py leaves in build/isolate before it
 * calls `isolate batcharchive`: per test an X.isolate and an X.gen.json
 * whose args are relative to "dir".
 */
async function kuduStaging(repo: string, tests: string[]) {
  const staging = join(repo, "build/isolate");
  await writeTree(repo, {
    "build/latest/lib/libshared.so": "shared by every test\n",
    "build-support/run_dist_test.py": shellScript('exec "$@"'),
  });
  for (const name of tests) {
    await writeTree(repo, {
      [`build/latest/bin/${name}`]: shellScript(`echo ${name}`),
      [`build/isolate/${name}.isolate`]: `{
  'variables': {
    'command': ['../../build-support/run_dist_test.py', '--', '../../build/latest/bin/${name}'],
    'files': ['../../build-support/run_dist_test.py', '../../build/latest/bin/${name}', '../../build/latest/lib/'],
  },
}
`,
      [`build/isolate/${name}.gen.json`]: JSON.stringify({ args: ["-i", `${name}.isolate`, "-s", `${name}.isolated`], dir: staging, version: 1 }),
    });
  }
  return staging;
}


describe("dt batcharchive", () => {
  test("takes Kudu's invocation, writes {name: digest} equal to archive -i's, with one round of presence checks", async () => {
    const { dir, cas, dt } = await setup();
    const staging = await kuduStaging(join(dir, "repo"), ["a-test.0", "b-test.3"]);

    const r = await dt(
      ["batcharchive", `-isolate-server=${cas.url}`, "-dump-json=out.json", "-log-format=json", "--", "a-test.0.gen.json", "b-test.3.gen.json"],
      staging,
    );
    expect(r.stderr).not.toContain("error");
    expect(r.exitCode).toBe(0);
    expect(cas.count("POST /missing")).toBe(1);

    const dump = JSON.parse(await readFile(join(staging, "out.json"), "utf8")) as Record<string, string>;
    expect(Object.keys(dump).sort()).toEqual(["a-test.0", "b-test.3"]);
    for (const name of ["a-test.0", "b-test.3"]) {
      const bytes = new Uint8Array(await readFile(join(staging, `${name}.isolated`)));
      expect(dump[name]).toBe(digestOfBytes(bytes).hash);
      const isolated = parseIsolated(bytes, name);
      expect(isolated.relative_cwd).toBe("build/isolate");
      expect(Object.keys(isolated.files).sort()).toEqual(["build-support/run_dist_test.py", `build/latest/bin/${name}`, "build/latest/lib/libshared.so"]);
    }
    // Shared files are asked about once: 2 binaries + the wrapper + the library + 2 manifests.
    const stats = jsonLogLines(r.stderr).find((l) => l.stats !== undefined)?.stats as { upload: { checked: number; uploadedItems: number } };
    expect(stats.upload).toMatchObject({ checked: 6, uploadedItems: 6 });
    const client = new CasClient(cas.url);
    for (const name of ["a-test.0", "b-test.3"]) {
      expect(await client.getBytes(dump[name]!)).toEqual(new Uint8Array(await readFile(join(staging, `${name}.isolated`))));
    }

    for (const name of ["a-test.0", "b-test.3"]) {
      const single = await dt(["archive", "-I", cas.url, "-i", join(staging, `${name}.isolate`), "--hash-cache", "none"], dir);
      expect(single.exitCode).toBe(0);
      expect(single.stdout.trim().split(/\s+/)[0]).toBe(dump[name]!);
    }
  }, CLI_TEST_TIMEOUT_MS);

  test("also takes absolute -i/-s with dir at the repo root, gen.json files as positionals, and --double-dash flags", async () => {
    const { dir, cas, dt } = await setup();
    const repo = join(dir, "repo");
    const staging = await kuduStaging(repo, ["c-test"]);
    const genJson = { args: ["-i", join(staging, "c-test.isolate"), "-s", join(staging, "c-test.isolated")], dir: repo, version: 1 };
    await writeFile(join(staging, "c-test.gen.json"), JSON.stringify(genJson));
    const r = await dt(["batcharchive", "--isolate-server", cas.url, "--dump-json", join(dir, "dump.json"), join(staging, "c-test.gen.json")], dir);
    expect(r.exitCode).toBe(0);
    const dump = JSON.parse(await readFile(join(dir, "dump.json"), "utf8"));
    expect(dump).toEqual({ "c-test": digestOfBytes(new Uint8Array(await readFile(join(staging, "c-test.isolated")))).hash });
  }, CLI_TEST_TIMEOUT_MS);

  test("refuses two gen.json files that produce the same name, and names a missing one (exit 3)", async () => {
    const { dir, cas, dt } = await setup();
    const staging = await kuduStaging(join(dir, "repo"), ["d-test"]);
    await writeFile(join(staging, "copy.gen.json"), await readFile(join(staging, "d-test.gen.json")));
    const clash = await dt(["batcharchive", `-isolate-server=${cas.url}`, "--", "d-test.gen.json", "copy.gen.json"], staging);
    expect(clash.exitCode).toBe(2);
    expect(clash.stderr).toContain('both produce "d-test"');

    const missing = await dt(["batcharchive", `-isolate-server=${cas.url}`, "--", "absent.gen.json"], staging);
    expect(missing.exitCode).toBe(3);
    expect(missing.stderr).toContain(join(staging, "absent.gen.json"));
    expect(cas.count("POST /missing")).toBe(0);
  }, CLI_TEST_TIMEOUT_MS);
});

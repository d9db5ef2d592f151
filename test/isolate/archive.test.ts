import { describe, expect, test } from "bun:test";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CasClient } from "../../src/isolate/cas/client.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import { parseIsolated } from "../../src/isolate/manifest.ts";
import { closedServerUrl } from "../helpers/cas.ts";
import { CLI_TEST_TIMEOUT_MS, jsonLogLines, runCli } from "../helpers/cli.ts";
import { useScratch } from "../helpers/scratch.ts";
import { backdate, shellScript, writeTree } from "../helpers/tree.ts";

/** A scratch dir with a CAS server and a HOME for dt that is not the user's. */
const setup = useScratch("dt-archive-");

/** The digest `dt archive` printed: the first word of its stdout. */
function printedDigest(stdout: string): string {
  const digest = stdout.trim().split(/\s+/)[0]!;
  expect(digest).toMatch(/^[0-9a-f]{64}$/);
  return digest;
}

/** A Kudu-shaped repo: build/isolate/foo-test.isolate names the test binary as ../../build/latest/bin/foo-test. */
async function kuduRepo(repo: string) {
  await writeTree(repo, {
    "build/latest/bin/foo-test": shellScript('echo "foo-test $*"'),
    "build/latest/lib/libfoo.so": "not really a library\n",
    "build/latest/lib/libfoo.so.1": { symlink: "libfoo.so" },
    "build/latest/lib/nested/data.bin": "some data",
    "build-support/run.py": "print('hi')\n",
    "unrelated/secret.txt": "not listed, so not archived",
    "build/isolate/foo-test.isolate": `# written by a test, in the shape of Kudu's dist_test.py
{
  'variables': {
    'command': ['../../build/latest/bin/foo-test', '--gtest_filter=<(FILTER)'],
    'files': [
      '../../build/latest/bin/foo-test',
      '../../build/latest/lib/',
    ],
    'read_only': 2,
  },
}
`,
  });
  return join(repo, "build/isolate/foo-test.isolate");
}

describe("dt archive -i X.isolate", () => {
  test("writes the manifest (files, symlinks, command, relative_cwd, read_only), uploads every blob, prints its digest", async () => {
    const { dir, cas, dt } = await setup();
    const repo = join(dir, "repo");
    const isolate = await kuduRepo(repo);
    const isolatedPath = join(repo, "build/isolate/foo-test.isolated");
    const r = await dt(["archive", "-I", cas.url, "-i", isolate, "-s", isolatedPath, "--config-variable", "FILTER=Foo.*", "--hash-cache", "none"]);
    expect(r.stderr).not.toContain("error");
    expect(r.exitCode).toBe(0);

    const bytes = new Uint8Array(await readFile(isolatedPath));
    const digest = printedDigest(r.stdout);
    expect(digest).toBe(digestOfBytes(bytes).hash);
    expect(r.stdout.trim()).toBe(`${digest}  foo-test`);
    const isolated = parseIsolated(bytes, isolatedPath);
    const script = shellScript('echo "foo-test $*"').content;
    expect(isolated).toEqual({
      algo: "sha-256",
      version: "1.4",
      files: {
        "build/latest/bin/foo-test": { h: digestOfBytes(script).hash, s: script.length, m: 0o755 },
        "build/latest/lib/libfoo.so": { h: digestOfBytes("not really a library\n").hash, s: 21, m: 0o644 },
        "build/latest/lib/libfoo.so.1": { l: "libfoo.so" },
        "build/latest/lib/nested/data.bin": { h: digestOfBytes("some data").hash, s: 9, m: 0o644 },
      },
      command: ["../../build/latest/bin/foo-test", "--gtest_filter=Foo.*"],
      // Every file is under build/, but the root is the repo: the command climbs two levels from
      // build/isolate, so the tree must hold them for ../../build/latest/bin/foo-test to resolve.
      relative_cwd: "build/isolate",
      read_only: 2,
    });

    // Everything the manifest names, and the manifest itself, is on the server now.
    const client = new CasClient(cas.url);
    const wanted = [digestOfBytes(bytes), ...Object.values(isolated.files).filter((e) => e.h).map((e) => ({ hash: e.h!, size: e.s! }))];
    expect(await client.findMissing(wanted)).toEqual([]);
    expect(await client.getBytes(digest)).toEqual(bytes);
  }, CLI_TEST_TIMEOUT_MS);

  test("archiving the same tree twice gives the same digest, and so does the same tree elsewhere", async () => {
    const { dir, cas, dt } = await setup();
    const digests: string[] = [];
    for (const name of ["one", "two"]) {
      const isolate = await kuduRepo(join(dir, name));
      for (let i = 0; i < 2; i++) {
        const r = await dt(["archive", "-I", cas.url, "-i", isolate, "--config-variable", "FILTER=*", "--hash-cache", join(dir, "hashes.sqlite")]);
        expect(r.exitCode).toBe(0);
        digests.push(printedDigest(r.stdout));
      }
    }
    expect(new Set(digests).size).toBe(1);
  }, CLI_TEST_TIMEOUT_MS);

  test("a listed path that is absent is an error naming the file and the .isolate (exit 3)", async () => {
    const { dir, cas, dt } = await setup();
    await writeTree(dir, {
      "t/present.txt": "x",
      "t/x.isolate": "{'variables': {'command': ['./present.txt'], 'files': ['present.txt', 'missing-test-binary']}}",
    });
    const r = await dt(["archive", "-I", cas.url, "-i", join(dir, "t/x.isolate"), "--hash-cache", "none"]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain(join(dir, "t/missing-test-binary"));
    expect(r.stderr).toContain(join(dir, "t/x.isolate"));
    expect(r.stdout).toBe("");
  }, CLI_TEST_TIMEOUT_MS);

  test("an absolute path in the .isolate is refused (exit 2)", async () => {
    const { dir, cas, dt } = await setup();
    await writeTree(dir, { "x.isolate": "{'variables': {'command': ['true'], 'files': ['/etc/passwd']}}" });
    const r = await dt(["archive", "-I", cas.url, "-i", join(dir, "x.isolate"), "--hash-cache", "none"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${join(dir, "x.isolate")}: variables.files entry "/etc/passwd" is absolute`);
  }, CLI_TEST_TIMEOUT_MS);

  test("a .isolate syntax error names file:line:column (exit 2)", async () => {
    const { dir, cas, dt } = await setup();
    await writeTree(dir, { "x.isolate": "{\n  'variables': {\n    'files': ['a' 'b',,],\n  },\n}\n" });
    const r = await dt(["archive", "-I", cas.url, "-i", join(dir, "x.isolate"), "--hash-cache", "none"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`${join(dir, "x.isolate").replaceAll(".", "\\.")}:3:\\d+: `));
  }, CLI_TEST_TIMEOUT_MS);

  test("an unreachable server is named by its URL (exit 4)", async () => {
    const { dir, env } = await setup();
    const url = await closedServerUrl();
    await writeTree(dir, { "a.txt": "a" });
    const r = await runCli(["archive", "-I", url, "--path", "a.txt", "--hash-cache", "none", "--", "./a.txt"], { cwd: dir, env });
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toContain(url);
    expect(r.stderr).toContain("cannot reach the isolate server");
  }, CLI_TEST_TIMEOUT_MS);

  test.each([
    ["relative", "../../outside.txt"],
    ["absolute", "/etc/passwd"],
    ["to a device", "/dev/null"],
    ["to a directory", "/etc"],
  ])("a symlink pointing outside the tree (%s) is refused", async (_kind, target) => {
    const { dir, cas, dt } = await setup();
    await writeTree(dir, {
      "outside.txt": "outside",
      "t/x.isolate": "{'variables': {'command': ['true'], 'files': ['dir/']}}",
      "t/dir/ok.txt": "ok",
      "t/dir/escape": { symlink: target },
    });
    const r = await dt(["archive", "-I", cas.url, "-i", join(dir, "t/x.isolate"), "--hash-cache", "none"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${join(dir, "t/dir/escape")} -> ${target} points outside the tree`);
    expect(cas.count("POST /missing")).toBe(0);
  }, CLI_TEST_TIMEOUT_MS);

  test.each([
    ["listed itself", "escape"],
    ["listed as a directory", "escape/"],
  ])("a symlink to a directory outside the tree, %s, is refused rather than followed", async (_how, listed) => {
    const { dir, cas, dt } = await setup();
    await writeTree(dir, {
      "outside/secret.txt": "secret",
      "t/x.isolate": `{'variables': {'command': ['true'], 'files': ['${listed}']}}`,
      "t/escape": { symlink: join(dir, "outside") },
    });
    const r = await dt(["archive", "-I", cas.url, "-i", join(dir, "t/x.isolate"), "--hash-cache", "none"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${join(dir, "t/escape")} -> ${join(dir, "outside")} points outside the tree`);
    expect(cas.count("POST /missing")).toBe(0);
  }, CLI_TEST_TIMEOUT_MS);

  test("a fifo is refused, named, before anything is hashed or uploaded", async () => {
    const { dir, cas, dt } = await setup();
    await writeTree(dir, { "t/x.isolate": "{'variables': {'command': ['true'], 'files': ['dir/']}}", "t/dir/ok.txt": "ok" });
    const mkfifo = Bun.spawnSync(["mkfifo", join(dir, "t/dir/pipe")]);
    expect(mkfifo.exitCode).toBe(0);
    const r = await dt(["archive", "-I", cas.url, "-i", join(dir, "t/x.isolate"), "--hash-cache", "none"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${join(dir, "t/dir/pipe")} is a fifo; only files, directories and symlinks can be archived`);
    expect(cas.count("POST /missing")).toBe(0);
  }, CLI_TEST_TIMEOUT_MS);

  test("a unix socket is refused, named", async () => {
    const { dir, cas, dt } = await setup();
    await writeTree(dir, { "t/x.isolate": "{'variables': {'command': ['true'], 'files': ['dir/']}}", "t/dir/ok.txt": "ok" });
    const socket = Bun.listen({ unix: join(dir, "t/dir/sock"), socket: { data() {} } });
    try {
      const r = await dt(["archive", "-I", cas.url, "-i", join(dir, "t/x.isolate"), "--hash-cache", "none"]);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(`${join(dir, "t/dir/sock")} is a socket`);
      expect(cas.count("POST /missing")).toBe(0);
    } finally {
      socket.stop(true);
    }
  }, CLI_TEST_TIMEOUT_MS);

  // mknod needs root (CAP_MKNOD); as another user there is no device node to make, so the case cannot be set up.
  test.skipIf(process.getuid?.() !== 0)("a device node in the tree is refused, named", async () => {
    const { dir, cas, dt } = await setup();
    await writeTree(dir, { "t/x.isolate": "{'variables': {'command': ['true'], 'files': ['dir/']}}", "t/dir/ok.txt": "ok" });
    // 1,3 is /dev/null's device number.
    expect(Bun.spawnSync(["mknod", join(dir, "t/dir/null"), "c", "1", "3"]).exitCode).toBe(0);
    const r = await dt(["archive", "-I", cas.url, "-i", join(dir, "t/x.isolate"), "--hash-cache", "none"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${join(dir, "t/dir/null")} is a character device`);
    expect(cas.count("POST /missing")).toBe(0);
  }, CLI_TEST_TIMEOUT_MS);

  test("an unchanged tree is re-archived from the hash cache with no upload; one changed file uploads 2 blobs", async () => {
    const { dir, cas, dt } = await setup();
    const files = { "t/a.txt": "a", "t/b.txt": "bb", "t/sub/c.txt": "ccc", "t/sub/d.txt": "dddd" };
    await writeTree(dir, { ...files, "t/x.isolate": "{'variables': {'command': ['cat', 'a.txt'], 'files': ['a.txt', 'b.txt', 'sub/']}}" });
    await backdate(Object.keys(files).map((f) => join(dir, f)));
    const archive = async () => {
      const r = await dt(["archive", "-I", cas.url, "-i", join(dir, "t/x.isolate"), "--hash-cache", join(dir, "hashes.sqlite"), "--log-format", "json"]);
      expect(r.exitCode).toBe(0);
      const statsLines = jsonLogLines(r.stderr).filter((l) => l.stats !== undefined);
      expect(statsLines).toHaveLength(1);
      return { digest: printedDigest(r.stdout), stats: statsLines[0]!.stats as { files: number; hashedFiles: number; hashCacheHits: number; upload: { uploadedItems: number; checked: number } } };
    };

    const first = await archive();
    expect(first.stats).toMatchObject({ files: 4, hashedFiles: 4, hashCacheHits: 0, upload: { checked: 5, uploadedItems: 5 } });

    const second = await archive();
    expect(second.digest).toBe(first.digest);
    expect(second.stats).toMatchObject({ files: 4, hashedFiles: 0, hashCacheHits: 4, upload: { checked: 5, uploadedItems: 0 } });

    await writeFile(join(dir, "t/sub/c.txt"), "changed");
    const third = await archive();
    expect(third.digest).not.toBe(first.digest);
    expect(third.stats).toMatchObject({ files: 4, hashedFiles: 1, hashCacheHits: 3, upload: { uploadedItems: 2 } });
  }, CLI_TEST_TIMEOUT_MS);
});

describe("dt archive --path ... -- command", () => {
  test("archives the listed files and directories with the command and its directory", async () => {
    const { dir, cas, dt } = await setup();
    await writeTree(dir, {
      "a.txt": "a",
      "tests/run.sh": shellScript("exit 0"),
      "tests/data/d.txt": "d",
      "tests/data/link": { symlink: "d.txt" },
      "not-listed.txt": "n",
    });
    const isolatedPath = join(dir, "out/adhoc.isolated");
    const r = await dt([
      "archive", "--isolate-server", cas.url, "--path", "a.txt", "--path=tests", "--relative-cwd", "tests",
      "--read-only", "0", "-s", isolatedPath, "--hash-cache", "none", "--", "./run.sh", "--flag", "value",
    ]);
    expect(r.exitCode).toBe(0);
    const bytes = new Uint8Array(await readFile(isolatedPath));
    expect(printedDigest(r.stdout)).toBe(digestOfBytes(bytes).hash);
    const isolated = parseIsolated(bytes, isolatedPath);
    expect(Object.keys(isolated.files).sort()).toEqual(["a.txt", "tests/data/d.txt", "tests/data/link", "tests/run.sh"]);
    expect(isolated.files["tests/run.sh"]!.m).toBe(0o755);
    expect(isolated.files["tests/data/link"]).toEqual({ l: "d.txt" });
    expect(isolated).toMatchObject({ command: ["./run.sh", "--flag", "value"], relative_cwd: "tests", read_only: 0 });
    expect(await new CasClient(cas.url).findMissing([digestOfBytes(bytes)])).toEqual([]);
  }, CLI_TEST_TIMEOUT_MS);

  test("refuses to archive nothing, and a --path outside --root", async () => {
    const { dir, cas, dt } = await setup();
    await writeTree(dir, { "root/a.txt": "a", "elsewhere.txt": "e" });
    const nothing = await dt(["archive", "-I", cas.url, "--hash-cache", "none", "--", "true"]);
    expect(nothing.exitCode).toBe(2);
    expect(nothing.stderr).toContain("nothing to archive");
    const outside = await dt(["archive", "-I", cas.url, "--root", "root", "--path", "../elsewhere.txt", "--hash-cache", "none", "--", "true"]);
    expect(outside.exitCode).toBe(2);
    expect(outside.stderr).toContain("outside the tree root");
  }, CLI_TEST_TIMEOUT_MS);
});

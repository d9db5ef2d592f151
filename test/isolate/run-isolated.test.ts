import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../src/common/log.ts";
import { archiveTargets, targetFromPaths } from "../../src/isolate/archive/archive.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import type { RunIsolatedResult } from "../../src/isolate/run/run-isolated.ts";
import { type TestCas, startCas } from "../helpers/cas.ts";
import { CLI_TEST_TIMEOUT_MS, cliEnv, killRunningClis, runCli } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";
import { type TreeSpec, shellScript, writeTree } from "../helpers/tree.ts";
import { processAlive, waitUntil } from "../helpers/wait.ts";

/** EXIT.internalFailure, spelled out: the number is the contract with slaves and scripts. */
const INTERNAL_FAILURE_EXIT = 86;

const temps = new TempDirs();
const servers: TestCas[] = [];
/** Files where a test's command writes the pids it started; those are killed if a test fails before proving them gone. */
const pidFiles: string[] = [];

afterEach(async () => {
  killRunningClis();
  for (const file of pidFiles.splice(0)) {
    const pid = Number(await readFile(file, "utf8").catch(() => ""));
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone, as it should be.
    }
  }
  for (const s of servers.splice(0)) await s.stop();
  await temps.cleanup();
});

async function setup() {
  const dir = await temps.make("dt-run-");
  const cas = await startCas(join(dir, "cas"));
  servers.push(cas);
  const cacheDir = join(dir, "cache");
  const runsDir = join(dir, "runs");
  const env = cliEnv(join(dir, "home"));
  let trees = 0;
  return {
    dir,
    cas,
    cacheDir,
    runsDir,
    /** Writes `spec` into a fresh directory and archives all of it in process; returns the manifest's digest. */
    async archive(spec: TreeSpec, manifest: { command: string[]; relativeCwd?: string; readOnly?: 0 | 1 | 2 }): Promise<string> {
      const root = join(dir, `tree-${++trees}`);
      await writeTree(root, spec);
      const target = targetFromPaths({ root, paths: ["."], ...manifest });
      const { results } = await archiveTargets([target], { cas: new CasClient(cas.url), log: createLogger({ level: "silent" }) });
      return results[0]!.digest.hash;
    },
    /** `dt run-isolated` against this setup's server and cache, making run dirs in `rootDir`. */
    run(hash: string, args: string[] = [], rootDir = runsDir) {
      return runCli(["run-isolated", "-H", hash, "-I", cas.url, "--cache", cacheDir, "--root-dir", rootDir, ...args], { cwd: dir, env });
    },
    async json(name: string): Promise<RunIsolatedResult> {
      return JSON.parse(await readFile(join(dir, name), "utf8"));
    },
  };
}

/** The run directories left under `runsDir`; [] once run-isolated cleaned up. */
async function leftoverRuns(runsDir: string): Promise<string[]> {
  return existsSync(runsDir) ? readdir(runsDir) : [];
}

/** Prints where it runs, its args, ISOLATED_OUTDIR and three variables, on stdout and stderr, then exits 3. */
const REPORTER = shellScript(`echo "cwd=$(pwd)"
echo "args=$*"
echo "outdir=$ISOLATED_OUTDIR"
echo "env=$FOO|$BAR|$OUT"
echo "to-stderr $1" >&2
exit 3`);

describe("dt run-isolated", () => {
  test("runs the command in relative_cwd with extra args, ISOLATED_OUTDIR, --env; exits with its code; streams output to the terminal and --log-dir", async () => {
    const s = await setup();
    const hash = await s.archive(
      { "bin/reporter.sh": REPORTER, "work/input.txt": "input", "work/more.txt": "more" },
      { command: ["../bin/reporter.sh", "first", "${ISOLATED_OUTDIR}/out.txt"], relativeCwd: "work" },
    );
    const logDir = join(s.dir, "logs");
    const r = await s.run(hash, [
      "--env", "FOO=foo", "--env=BAR=b=ar", "--env", "OUT=${ISOLATED_OUTDIR}/env", "--log-dir", logDir, "--json", "run1.json", "--", "extra1", "extra two",
    ]);
    expect(r.exitCode).toBe(3);

    const outdir = /^outdir=(.*)$/m.exec(r.stdout)?.[1];
    expect(outdir).toMatch(new RegExp(`^${s.runsDir}/dt-run-[^/]+/io$`));
    expect(r.stdout).toMatch(new RegExp(`^cwd=${s.runsDir}/dt-run-[^/]+/ir/work$`, "m"));
    expect(r.stdout).toContain(`\nargs=first ${outdir}/out.txt extra1 extra two\n`);
    expect(r.stdout).toContain(`\nenv=foo|b=ar|${outdir}/env\n`);
    expect(r.stderr).toContain("to-stderr first\n");
    // The terminal got exactly what the command wrote, and so did the log files.
    expect(await readFile(join(logDir, "stdout"), "utf8")).toBe(r.stdout);
    expect(await readFile(join(logDir, "stderr"), "utf8")).toBe("to-stderr first\n");

    const first = await s.json("run1.json");
    expect(first).toMatchObject({ exit_code: 3, signal: null, timed_out: false, internal_failure: null, task_error: null, run_dir: null });
    for (const phase of ["fetch", "map", "run", "cleanup"] as const) expect(first.phases_ms[phase]).toBeGreaterThanOrEqual(0);
    const bytes = REPORTER.content.length + "input".length + "more".length;
    expect(first.stats.cache).toMatchObject({ items_cold: 3, bytes_cold: bytes, items_hot: 0, bytes_hot: 0 });

    const again = await s.run(hash, ["--json", "run2.json"]);
    expect(again.exitCode).toBe(3);
    expect((await s.json("run2.json")).stats.cache).toMatchObject({ items_cold: 0, bytes_cold: 0, items_hot: 3, bytes_hot: bytes });
    expect(await leftoverRuns(s.runsDir)).toEqual([]);
  }, CLI_TEST_TIMEOUT_MS);

  test("runs a tree archived from Kudu's layout: ../../build/latest/bin/X from build/isolate", async () => {
    const s = await setup();
    const repo = join(s.dir, "repo");
    await writeTree(repo, {
      "build/latest/bin/foo-test": shellScript('echo "foo-test ran in $(basename $(dirname $(pwd)))/$(basename $(pwd)) with $*"'),
      "build/isolate/foo-test.isolate": "{'variables': {'command': ['../../build/latest/bin/foo-test', '--gtest_filter=A.*'], 'files': ['../../build/latest/bin/foo-test']}}",
    });
    const archived = await runCli(["archive", "-I", s.cas.url, "-i", join(repo, "build/isolate/foo-test.isolate"), "--hash-cache", "none"], {
      cwd: s.dir,
      env: cliEnv(join(s.dir, "home")),
    });
    expect(archived.exitCode).toBe(0);
    const r = await s.run(archived.stdout.split(/\s+/)[0]!, ["--", "--gtest_repeat=2"]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe("foo-test ran in build/isolate with --gtest_filter=A.* --gtest_repeat=2\n");
  }, CLI_TEST_TIMEOUT_MS);

  test("--timeout kills the whole process group: no background grandchild survives", async () => {
    const s = await setup();
    const hash = await s.archive(
      { "t.sh": shellScript('sleep 300 &\necho $! > "$ISOLATED_OUTDIR/grandchild.pid"\necho started\nwait') },
      { command: ["./t.sh"] },
    );
    const outputDir = join(s.dir, "out");
    pidFiles.push(join(outputDir, "grandchild.pid"));
    // A grace period far longer than the run may take: the group must go on SIGTERM alone.
    const r = await s.run(hash, ["--timeout", "1", "--grace-period", "60", "--output-dir", outputDir, "--json", "r.json"]);
    const grandchild = Number(await readFile(join(outputDir, "grandchild.pid"), "utf8"));
    expect(r.stdout).toBe("started\n");
    expect(r.exitCode).toBe(128 + 15);
    expect(r.stderr).toContain("timed out");
    const result = await s.json("r.json");
    expect(result).toMatchObject({ timed_out: true, had_hard_timeout: true, signal: "SIGTERM", exit_code: null, internal_failure: null });
    expect(result.phases_ms.run).toBeGreaterThanOrEqual(1000);
    await waitUntil(() => !processAlive(grandchild), `grandchild ${grandchild} to be gone`);
    expect(await leftoverRuns(s.runsDir)).toEqual([]);
  }, CLI_TEST_TIMEOUT_MS);

  test("a command that ignores SIGTERM is SIGKILLed after --grace-period, with its grandchild", async () => {
    const s = await setup();
    const hash = await s.archive(
      { "stubborn.sh": shellScript("trap '' TERM\nsleep 300 &\necho $! > \"$ISOLATED_OUTDIR/grandchild.pid\"\necho $$ > \"$ISOLATED_OUTDIR/child.pid\"\nwait") },
      { command: ["./stubborn.sh"] },
    );
    const outputDir = join(s.dir, "out");
    const files = ["grandchild.pid", "child.pid"].map((f) => join(outputDir, f));
    pidFiles.push(...files);
    const r = await s.run(hash, ["--timeout", "1", "--grace-period", "1", "--output-dir", outputDir, "--json", "r.json"]);
    const pids = await Promise.all(files.map(async (f) => Number(await readFile(f, "utf8"))));
    expect(r.exitCode).toBe(128 + 9);
    const result = await s.json("r.json");
    expect(result).toMatchObject({ timed_out: true, signal: "SIGKILL", exit_code: null });
    // SIGKILL came only after the grace period.
    expect(result.phases_ms.run).toBeGreaterThanOrEqual(2000);
    for (const pid of pids) await waitUntil(() => !processAlive(pid), `process ${pid} to be gone`);
    expect(await leftoverRuns(s.runsDir)).toEqual([]);
  }, CLI_TEST_TIMEOUT_MS);

  test("a grandchild that escaped the group with setsid cannot keep dt from finishing", async () => {
    const s = await setup();
    const hash = await s.archive(
      // The escapee keeps stdout open: dt gives up on the pipe after its drain bound (5 s), not when the escapee ends.
      { "escape.sh": shellScript('setsid sleep 60 &\necho $! > "$ISOLATED_OUTDIR/escapee.pid"\necho parent-done') },
      { command: ["./escape.sh"] },
    );
    const outputDir = join(s.dir, "out");
    pidFiles.push(join(outputDir, "escapee.pid"));
    const r = await s.run(hash, ["--output-dir", outputDir, "--json", "r.json"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe("parent-done\n");
    expect(await s.json("r.json")).toMatchObject({ exit_code: 0, internal_failure: null });
    expect(await leftoverRuns(s.runsDir)).toEqual([]);
  }, CLI_TEST_TIMEOUT_MS);

  test("--leak-temp-dir keeps the run directory and says so", async () => {
    const s = await setup();
    const hash = await s.archive({ "data.txt": "kept" }, { command: ["cat", "data.txt"], readOnly: 2 });
    const r = await s.run(hash, ["--leak-temp-dir", "--json", "r.json"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe("kept");
    const runs = await leftoverRuns(s.runsDir);
    expect(runs).toHaveLength(1);
    const runDir = join(s.runsDir, runs[0]!);
    expect(r.stderr).toContain(`Deliberately leaking ${runDir} for later examination`);
    expect(await readFile(join(runDir, "ir/data.txt"), "utf8")).toBe("kept");
    expect((await s.json("r.json")).run_dir).toBe(runDir);
  }, CLI_TEST_TIMEOUT_MS);

  test("read_only 2 makes every directory (the command's empty one too) and file read-only; the run directory is still removed", async () => {
    const s = await setup();
    const hash = await s.archive(
      {
        "check.sh": shellScript('echo "writable dirs: $(find "$1" -type d -perm /222)"\necho "writable files: $(find "$1" -type f -perm /222)"'),
        "a/b/c/deep.txt": "deep",
        "top.txt": "top",
      },
      // The command's directory holds no file: it is made by run-isolated, and must be read-only too.
      { command: ["../../check.sh", "../.."], relativeCwd: "run/here", readOnly: 2 },
    );
    const r = await s.run(hash);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe("writable dirs: \nwritable files: \n");
    expect(await leftoverRuns(s.runsDir)).toEqual([]);
  }, CLI_TEST_TIMEOUT_MS);

  test("the run directory is removed after the command crashed", async () => {
    const s = await setup();
    const hash = await s.archive({ "crash.sh": shellScript("ulimit -c 0\necho before-crash\nkill -SEGV $$") }, { command: ["./crash.sh"], readOnly: 2 });
    const r = await s.run(hash, ["--json", "r.json"]);
    expect(r.stdout).toBe("before-crash\n");
    expect(r.exitCode).toBe(128 + 11);
    expect(await s.json("r.json")).toMatchObject({ signal: "SIGSEGV", exit_code: null, internal_failure: null, run_dir: null });
    expect(await leftoverRuns(s.runsDir)).toEqual([]);
  }, CLI_TEST_TIMEOUT_MS);

  test("read_only 0 maps writable copies: writing to a file leaves the cached blob intact", async () => {
    const s = await setup();
    const hash = await s.archive(
      { "data.txt": "original", "w.sh": shellScript('echo overwritten > data.txt\nstat -c "%a %h" data.txt\ncat data.txt\ntest -w . && echo dir-writable') },
      { command: ["./w.sh"], readOnly: 0 },
    );
    const r = await s.run(hash);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe("644 1\noverwritten\ndir-writable\n");
    const cached = join(s.cacheDir, digestOfBytes("original").hash);
    expect(await readFile(cached, "utf8")).toBe("original");
  }, CLI_TEST_TIMEOUT_MS);

  test("read_only 1 hardlinks files from the cache without write bits; directories stay writable", async () => {
    const s = await setup();
    const hash = await s.archive(
      { "sub/data.txt": "data", "r.sh": shellScript('echo "writable files: $(find . -type f -perm /222)"\nstat -c "%A" sub | cut -c3\nstat -c "links %h" sub/data.txt') },
      { command: ["./r.sh"], readOnly: 1 },
    );
    const r = await s.run(hash);
    expect(r.exitCode).toBe(0);
    // Two links: the cache's file and the tree's.
    expect(r.stdout).toBe("writable files: \nw\nlinks 2\n");
  }, CLI_TEST_TIMEOUT_MS);

  // tmpfs at /dev/shm is another filesystem than the temp dir on most Linux hosts; elsewhere there is nothing to test.
  const otherFs = existsSync("/dev/shm") && statSync("/dev/shm").dev !== statSync(tmpdir()).dev;
  test.skipIf(!otherFs)("copies instead of hardlinking when the run directory is on another filesystem than the cache", async () => {
    const s = await setup();
    const runsDir = await temps.make("dt-run-shm-", "/dev/shm");
    const hash = await s.archive(
      { "data.txt": "data", "c.sh": shellScript('stat -c "%n %a %h" data.txt c.sh') },
      { command: ["./c.sh"], readOnly: 1 },
    );
    const r = await s.run(hash, [], runsDir);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    // Copies: one link each, and the manifest's modes without write bits.
    expect(r.stdout).toBe("data.txt 444 1\nc.sh 555 1\n");
    expect(await leftoverRuns(runsDir)).toEqual([]);
  }, CLI_TEST_TIMEOUT_MS);

  test("symlinks in the tree are recreated (and an empty file is mapped)", async () => {
    const s = await setup();
    const hash = await s.archive(
      {
        "lib/libx.so.1": "library",
        "lib/libx.so": { symlink: "libx.so.1" },
        "bin/libdir": { symlink: "../lib" },
        "lib/empty": "",
        "l.sh": shellScript("readlink lib/libx.so\ncat bin/libdir/libx.so\nwc -c < lib/empty"),
      },
      { command: ["./l.sh"] },
    );
    const r = await s.run(hash);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe("libx.so.1\nlibrary0\n");
  }, CLI_TEST_TIMEOUT_MS);

  test("an unknown digest fails the task (exit 1, task_error in the JSON): the CAS answered, it has no such manifest", async () => {
    const s = await setup();
    const unknown = digestOfBytes("no manifest has this digest").hash;
    const r = await s.run(unknown, ["--json", "r.json"]);
    expect(r.exitCode).toBe(1);
    const result = await s.json("r.json");
    expect(result.internal_failure).toBeNull();
    expect(result.task_error).toBe(`manifest ${unknown} not found in ${s.cas.url}; did you run dt archive against ${s.cas.url}?`);
    expect(result.exit_code).toBeNull();
    expect(await leftoverRuns(s.runsDir)).toEqual([]);
  }, CLI_TEST_TIMEOUT_MS);

  test("a blob the manifest names that is not in the CAS fails the task (exit 1), naming the blob and the CAS", async () => {
    const s = await setup();
    const hash = await s.archive({ "data.txt": "x", "big.bin": "y".repeat(200_000) }, { command: ["cat", "data.txt"] });
    const blobs = await readdir(join(s.cas.dataDir, "blobs"), { recursive: true });
    // Remove every blob but the manifest, behind the server's back: the server forgets a file it cannot find.
    const manifestPath = `${hash.slice(0, 2)}/${hash}`;
    for (const b of blobs) if (b.length > 3 && b !== manifestPath) await rm(join(s.cas.dataDir, "blobs", b));
    const r = await s.run(hash, ["--json", "r.json"]);
    const result = await s.json("r.json");
    expect([r.exitCode, result.internal_failure]).toEqual([1, null]);
    expect(result.task_error).toMatch(new RegExp(`^blobs? .*not found in ${s.cas.url.replaceAll(".", "\\.")}; archive the tree again`));
    // Archived once, so the blob was lost on the way or evicted while the job waited: the message says both.
    expect(result.task_error).toContain("and submit again: it was never uploaded, or the CAS evicted it since (dt isolate-server --max-size, an S3 lifecycle rule)");
  }, CLI_TEST_TIMEOUT_MS);

  test("a 404 that is not a dt CAS's (a proxy, a wrong URL) is an internal failure (exit 86), not the task's: no archive fixes it", async () => {
    const s = await setup();
    const hash = await s.archive({ "data.txt": "x" }, { command: ["cat", "data.txt"] });
    // A proxy's page: no Dt-Cas header, no dt error code.
    s.cas.failWith(404, "<html><body><h1>404 Not Found</h1>nginx</body></html>");
    const r = await s.run(hash, ["--json", "r.json"]);
    expect(r.exitCode).toBe(INTERNAL_FAILURE_EXIT);
    const result = await s.json("r.json");
    expect(result.task_error).toBeNull();
    expect(result.internal_failure).toContain("404 Not Found: <html>");
    expect(result.internal_failure).toContain(`the answer is not a dt CAS's (no Dt-Cas header): is ${s.cas.url} the root URL of dt isolate-server`);
  }, CLI_TEST_TIMEOUT_MS);

  test("a stopped server is an internal failure (exit 86) naming its URL", async () => {
    const s = await setup();
    const hash = await s.archive({ "data.txt": "x" }, { command: ["cat", "data.txt"] });
    await s.cas.stop();
    const r = await s.run(hash, ["--json", "r.json"]);
    expect(r.exitCode).toBe(INTERNAL_FAILURE_EXIT);
    const result = await s.json("r.json");
    expect(result.internal_failure).toContain(`cannot reach the isolate server at ${s.cas.url}`);
    expect(await leftoverRuns(s.runsDir)).toEqual([]);
  }, CLI_TEST_TIMEOUT_MS);

  test("a manifest without a command fails the task (exit 1), not dt", async () => {
    const s = await setup();
    const hash = await s.archive({ "data.txt": "x" }, { command: [] });
    const r = await s.run(hash, ["--json", "r.json"]);
    expect(r.exitCode).toBe(1);
    expect(await s.json("r.json")).toMatchObject({ internal_failure: null, task_error: expect.stringContaining("has no command") });
  }, CLI_TEST_TIMEOUT_MS);
});

describe("run-isolated flag checks", () => {
  test("a --timeout beyond what a timer can hold is refused before anything runs", async () => {
    const { dir, cas } = await setup();
    const env = cliEnv(join(dir, "home"));
    const r = await runCli(["run-isolated", "--isolate-server", cas.url, "--hash", "a".repeat(64), "--timeout", "9999999999"], { env });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("--timeout");
    expect(r.stderr).toContain("24 days");
  }, CLI_TEST_TIMEOUT_MS);

  test("a malformed --hash is refused with exit 2", async () => {
    const { dir, cas } = await setup();
    const r = await runCli(["run-isolated", "--isolate-server", cas.url, "--hash", "xyz"], { env: cliEnv(join(dir, "home")) });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("--hash must be 64 lower-case hex digits");
  }, CLI_TEST_TIMEOUT_MS);

  test("--leak-temp-dir's notice is printed even with --log-level error", async () => {
    const s = await setup();
    const hash = await s.archive({ "run.sh": shellScript("exit 0") }, { command: ["./run.sh"] });
    const r = await runCli(["run-isolated", "--isolate-server", s.cas.url, "--hash", hash, "--cache", s.cacheDir, "--root-dir", s.runsDir, "--leak-temp-dir", "--log-level", "error"], { env: cliEnv(join(s.dir, "home")) });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/Deliberately leaking .*dt-run-\w+ for later examination/);
  }, CLI_TEST_TIMEOUT_MS);
});

describe("hostile manifests from the server", () => {
  test("a file placed below a symlink of another (included) manifest is refused, and nothing lands outside the run dir", async () => {
    const s = await setup();
    const cas = new CasClient(s.cas.url);
    const secret = new TextEncoder().encode("written through a symlink\n");
    const secretDigest = digestOfBytes(secret);
    const include = new TextEncoder().encode(JSON.stringify({ algo: "sha-256", version: "1.4", files: { "up/x/OUTSIDE.txt": { h: secretDigest.hash, s: secretDigest.size } } }));
    const includeDigest = digestOfBytes(include);
    // Alone, each manifest is valid: the root has a link to the tree's own root, the include one file.
    const root = new TextEncoder().encode(
      JSON.stringify({ algo: "sha-256", version: "1.4", read_only: 0, command: ["/bin/true"], files: { "a/up": { l: ".." }, up: { l: "a/up" } }, includes: [includeDigest.hash] }),
    );
    const rootDigest = digestOfBytes(root);
    await cas.putBatch([
      { digest: secretDigest, bytes: secret },
      { digest: includeDigest, bytes: include },
      { digest: rootDigest, bytes: root },
    ]);
    const json = join(s.dir, "result.json");
    const r = await runCli(["run-isolated", "--isolate-server", s.cas.url, "--hash", rootDigest.hash, "--cache", s.cacheDir, "--root-dir", s.runsDir, "--json", json], { env: cliEnv(join(s.dir, "home")) });
    expect(r.exitCode).toBe(INTERNAL_FAILURE_EXIT);
    const result = JSON.parse(await readFile(json, "utf8")) as RunIsolatedResult;
    expect(result.internal_failure).toContain("also as a directory of up/x/OUTSIDE.txt");
    expect(existsSync(join(s.runsDir, "x"))).toBe(false);
    expect(existsSync(join(s.dir, "x"))).toBe(false);
  }, CLI_TEST_TIMEOUT_MS);

  /** Stores `manifestText` (and a blob it may name) on the setup's server; returns the manifest's digest. */
  async function putManifest(s: Awaited<ReturnType<typeof setup>>, manifestText: string): Promise<string> {
    const bytes = new TextEncoder().encode(manifestText);
    const digest = digestOfBytes(bytes);
    await new CasClient(s.cas.url).putBatch([{ digest: PWNED_DIGEST, bytes: PWNED }, { digest, bytes }]);
    return digest.hash;
  }

  const PWNED = new TextEncoder().encode("written outside the run directory\n");
  const PWNED_DIGEST = digestOfBytes(PWNED);
  const FILE = JSON.stringify({ h: PWNED_DIGEST.hash, s: PWNED_DIGEST.size });
  const manifestOf = (files: string, extra = "") => `{"algo":"sha-256","version":"1.4","read_only":0,"command":["/bin/true"],"files":{${files}}${extra}}`;

  // Each names a place outside the run directory: <scratch>/pwned is where runsDir/dt-run-X/ir/../../../pwned lands.
  const hostile: [string, (dir: string) => string, RegExp][] = [
    ["an absolute path", (dir) => manifestOf(`"ok":${FILE},${JSON.stringify(join(dir, "pwned"))}:${FILE}`), /is absolute/],
    ["a path climbing out with ..", () => manifestOf(`"ok":${FILE},"../../../pwned":${FILE}`), /contains '\.\.'/],
    ["a path with .. in the middle", () => manifestOf(`"a/../../../../pwned":${FILE}`), /contains '\.\.'/],
    ["a symlink to an absolute directory, with a file below it", (dir) => manifestOf(`"esc":{"l":${JSON.stringify(dir)}},"esc/pwned":${FILE}`), /must have a relative target inside the tree/],
    ["a symlink climbing out of the tree", () => manifestOf(`"esc":{"l":"../../.."},"ok":${FILE}`), /points outside the tree/],
    ["a symlink below a symlink", () => manifestOf(`"a":{"l":"."},"a/up":{"l":"../../../.."}`), /points outside the tree|also as a directory/],
    ["a relative_cwd climbing out", () => manifestOf(`"ok":${FILE}`, `,"relative_cwd":"../../../pwned"`), /relative_cwd/],
    // Read top-down, x is a link out of the tree; JSON.parse keeps the harmless last one, and another reader may not.
    ["the same path twice (a symlink out, then a file)", (dir) => manifestOf(`"x":{"l":${JSON.stringify(join(dir, "pwned"))}},"x":${FILE}`), /files\.x: appears twice/],
    ["a NUL in a path", () => manifestOf(`"pwned\\u0000.txt":${FILE}`), /contains a NUL byte/],
    ["a device entry", () => manifestOf(`"null":{"h":"${PWNED_DIGEST.hash}","s":${PWNED_DIGEST.size},"t":"char"}`), /type "char" is not supported/],
    ["nesting deep enough to stall a parser", () => manifestOf(`"ok":${FILE}`, `,"x":${"[".repeat(100_000)}${"]".repeat(100_000)}`), /nested deeper than/],
  ];

  for (const [what, text, message] of hostile) {
    test(`${what}: refused before anything is mapped, nothing written outside the run dir, which is removed`, async () => {
      const s = await setup();
      const hash = await putManifest(s, text(s.dir));
      const json = join(s.dir, "result.json");
      const r = await s.run(hash, ["--json", json]);
      expect(r.exitCode).toBe(INTERNAL_FAILURE_EXIT);
      const result = await s.json("result.json");
      expect(result.internal_failure).toMatch(message);
      expect(result.internal_failure).toContain(`manifest ${hash}`);
      expect(result.command).toEqual([]);
      expect(existsSync(join(s.dir, "pwned"))).toBe(false);
      expect(await readdir(s.dir)).toEqual(expect.not.arrayContaining(["pwned", "ok", "esc", "x"]));
      expect(await leftoverRuns(s.runsDir)).toEqual([]);
    }, CLI_TEST_TIMEOUT_MS);
  }
});

import { expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { strToU8, zipSync } from "fflate";
import fetchCommand from "../../src/commands/fetch.ts";
import { safe } from "../../src/client/fetch.ts";
import { CasClient } from "../../src/isolate/cas/client.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import { startCas } from "../helpers/cas.ts";
import { attemptOf, summaryOf, taskOf } from "./fake-master.ts";
import { type ClientWorld, useClientWorld } from "./harness.ts";

const world = useClientWorld();
const JOB = "alice.1700000000.5";
const link = (key: string) => `/api/v1/artifacts/${key}`;

/** A passing task with an archive, a failed one with logs and archives, and one still running. */
function setUp(w: ClientWorld, failedArchive = zipSync({ "build/debug/test-logs/bar.txt": strToU8("bar log") })) {
  w.master.artifacts.set("ok.zip", zipSync({ "build/debug/test-logs/foo.txt": strToU8("foo log") }));
  w.master.artifacts.set("bad0.stdout", "out 0");
  w.master.artifacts.set("bad0.stderr", "err 0");
  w.master.artifacts.set("bad0.zip", failedArchive);
  w.master.artifacts.set("bad1.stdout", "out 1");
  w.master.artifacts.set("bad1.stderr", "err 1");
  w.master.addJob(JOB, {
    frames: [summaryOf(JOB, { total_tasks: 3, finished: 2, succeeded: 1, failed: 1, running: 1, retries: 1 })],
    tasks: [
      taskOf("abc.0", "foo-test.0", "succeeded", [attemptOf(0, "SUCCEEDED", { artifact_archive_link: link("ok.zip") })]),
      taskOf("abc.1", "bar test/1", "failed", [
        attemptOf(0, "FAILED", { stdout_link: link("bad0.stdout"), stderr_link: link("bad0.stderr"), artifact_archive_link: link("bad0.zip") }),
        attemptOf(1, "TIMED_OUT", { stdout_link: link("bad1.stdout"), stderr_link: link("bad1.stderr") }),
      ]),
      taskOf("abc.2", "baz", "running", [attemptOf(0, "RUNNING", { stdout_link: link("never") })]),
    ],
  });
}

test("safe() is dist_test's: every non-alphanumeric character becomes _", () => {
  expect(safe("abc.1")).toBe("abc_1");
  expect(safe("bar test/1-é")).toBe("bar_test_1__");
});

test("fetch -l -a names files as dist_test did and extracts each archive beside its zip", async () => {
  const w = await world();
  setUp(w);
  const out = join(w.dir, "out");
  const r = await w.run(fetchCommand, ["-l", "-a", "-d", out, JOB]);
  expect(r.stderr).not.toContain("error");
  expect(r.code).toBe(0);
  expect(readdirSync(out).sort()).toEqual([
    "abc_0.0.foo_test_0",
    "abc_0.0.foo_test_0.zip",
    "abc_1.0.bar_test_1",
    "abc_1.0.bar_test_1.stderr",
    "abc_1.0.bar_test_1.stdout",
    "abc_1.0.bar_test_1.zip",
    "abc_1.1.bar_test_1.stderr",
    "abc_1.1.bar_test_1.stdout",
  ]);
  expect(readFileSync(join(out, "abc_1.1.bar_test_1.stderr"), "utf8")).toBe("err 1");
  expect(readFileSync(join(out, "abc_0.0.foo_test_0/build/debug/test-logs/foo.txt"), "utf8")).toBe("foo log");
  expect(readFileSync(join(out, "abc_1.0.bar_test_1/build/debug/test-logs/bar.txt"), "utf8")).toBe("bar log");
  // The running attempt's log is not fetched.
  expect(w.master.requests.some((q) => q.path.endsWith("/never"))).toBe(false);
});

test("fetch -f -l takes only the attempts that did not succeed; -a alone takes only archives", async () => {
  const w = await world();
  setUp(w);
  const failed = join(w.dir, "failed");
  expect((await w.run(fetchCommand, ["-f", "-l", "-d", failed, JOB])).code).toBe(0);
  expect(readdirSync(failed).sort()).toEqual(["abc_1.0.bar_test_1.stderr", "abc_1.0.bar_test_1.stdout", "abc_1.1.bar_test_1.stderr", "abc_1.1.bar_test_1.stdout"]);
  const archives = join(w.dir, "archives");
  expect((await w.run(fetchCommand, ["--artifacts", "--failed-only", "--output-dir", archives, JOB])).code).toBe(0);
  expect(readdirSync(archives).sort()).toEqual(["abc_1.0.bar_test_1", "abc_1.0.bar_test_1.zip"]);
});

test("fetch refuses an archive entry that would escape its directory, naming it, and still fetches the rest", async () => {
  const w = await world();
  setUp(w, zipSync({ "fine.txt": strToU8("ok"), "../evil": strToU8("pwned") }));
  const out = join(w.dir, "out");
  const r = await w.run(fetchCommand, ["-l", "-a", "-d", out, JOB]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('entry "../evil" climbs out');
  expect(existsSync(join(out, "evil"))).toBe(false);
  expect(existsSync(join(w.dir, "evil"))).toBe(false);
  expect(existsSync(join(out, "abc_1.0.bar_test_1"))).toBe(false);
  expect(readFileSync(join(out, "abc_0.0.foo_test_0/build/debug/test-logs/foo.txt"), "utf8")).toBe("foo log");
  expect(readFileSync(join(out, "abc_1.1.bar_test_1.stdout"), "utf8")).toBe("out 1");
});

test.each([
  ["an absolute name", { "/tmp/dt-fetch-evil": strToU8("pwned") }, "is an absolute path"],
  ["a backslash climb", { "..\\..\\evil": strToU8("pwned") }, "climbs out with '..'"],
  ["a symlink entry", { "link": [strToU8("/etc/passwd"), { os: 3, attrs: 0o120777 << 16 }] }, "is a symbolic link"],
  ["names that collide", { "a/b": strToU8("one"), "a//b": strToU8("two") }, 'lands on the same path as entry "a/b"'],
] as const)("fetch refuses an archive with %s and writes nothing of it", async (_what, files, message) => {
  const w = await world();
  setUp(w, zipSync(files as Parameters<typeof zipSync>[0]));
  const out = join(w.dir, "out");
  const r = await w.run(fetchCommand, ["-a", "-d", out, JOB]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(message);
  expect(existsSync(join(out, "abc_1.0.bar_test_1"))).toBe(false);
  expect(existsSync("/tmp/dt-fetch-evil")).toBe(false);
  expect(readdirSync(w.dir).filter((name) => name.includes("evil") || name === "link")).toEqual([]);
  expect(readFileSync(join(out, "abc_0.0.foo_test_0/build/debug/test-logs/foo.txt"), "utf8")).toBe("foo log");
});

test("fetch without -l, -a or -o is a usage error (exit 2), before any request", async () => {
  const w = await world();
  const r = await w.run(fetchCommand, [JOB]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("pass -l (logs), -a (artifacts), -o (outputs), or several");
  expect(w.master.requests).toEqual([]);
});

test("a log the master lost fails the fetch with its name (exit 3)", async () => {
  const w = await world();
  setUp(w);
  w.master.artifacts.delete("bad0.stderr");
  const r = await w.run(fetchCommand, ["-l", "-d", join(w.dir, "out"), JOB]);
  expect(r.code).toBe(3);
  expect(r.stderr).toContain("1 of 4 downloads failed");
  expect(r.stderr).toContain("abc_1.0.bar_test_1.stderr");
});

test("a link that fails (S3 out of reach) is tried once, then the same object through the master", async () => {
  const w = await world();
  w.master.artifacts.set("s3.stdout", "through the master");
  // A presigned link to a port nothing listens on: S3 that this client cannot reach.
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const deadLink = `http://127.0.0.1:${probe.port}/bucket/s3.stdout?X-Amz-Signature=x`;
  probe.stop(true);
  w.master.addJob(JOB, {
    frames: [summaryOf(JOB, { total_tasks: 1, finished: 1, failed: 1 })],
    tasks: [taskOf("abc.0", "s3-test", "failed", [attemptOf(0, "FAILED", { stdout_link: deadLink, stdout_master_link: link("s3.stdout") })])],
  });
  const out = join(w.dir, "out");
  const r = await w.run(fetchCommand, ["-l", "-d", out, JOB]);
  expect(r.code).toBe(0);
  expect(readFileSync(join(out, "abc_0.0.s3_test.stdout"), "utf8")).toBe("through the master");
  expect(r.stderr).toContain("fetching it through the master instead");
  // Tried once: no retry delays before the fallback.
  expect(w.sleeps).toEqual([]);
});

test("fetch -o refuses an outputs tree whose manifest would leave its directory, naming the attempt and the CAS, and still fetches the other trees", async () => {
  const w = await world();
  const cas = await startCas(join(w.dir, "cas"));
  try {
    const client = new CasClient(cas.url);
    const put = async (text: string) => {
      const bytes = new TextEncoder().encode(text);
      const d = digestOfBytes(bytes);
      await client.putBlob(d, bytes);
      return d;
    };
    const blob = await put("fine");
    const good = await put(JSON.stringify({ algo: "sha-256", version: "1.4", files: { "ok.txt": { h: blob.hash, s: blob.size, m: 0o640 } } }));
    const evil = await put(JSON.stringify({ algo: "sha-256", version: "1.4", files: { "../../evil": { h: blob.hash, s: blob.size } } }));
    const ref = (d: { hash: string }) => ({ isolated: d.hash, isolatedserver: cas.url, namespace: "sha-256" });
    w.master.addJob(JOB, {
      frames: [summaryOf(JOB, { total_tasks: 2, finished: 2, succeeded: 2 })],
      tasks: [
        taskOf("abc.0", "good", "succeeded", [attemptOf(0, "SUCCEEDED", { outputs_ref: ref(good) })]),
        taskOf("abc.1", "evil", "succeeded", [attemptOf(0, "SUCCEEDED", { outputs_ref: ref(evil) })]),
      ],
    });
    const out = join(w.dir, "out");
    const r = await w.run(fetchCommand, ["-o", "-d", out, JOB]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`outputs of evil attempt 0 from ${cas.url}: outputs manifest ${evil.hash}: files["../../evil"]`);
    expect(readFileSync(join(out, "abc_0", "0", "ok.txt"), "utf8")).toBe("fine");
    expect(statSync(join(out, "abc_0", "0", "ok.txt")).mode & 0o777).toBe(0o640);
    expect(existsSync(join(out, "abc_1", "0"))).toBe(false);
    expect(existsSync(join(w.dir, "evil"))).toBe(false);
  } finally {
    await cas.stop();
  }
});

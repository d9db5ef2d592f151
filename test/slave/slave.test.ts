import { describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { outputKey } from "../../src/master/protocol.ts";
import { shellScript } from "../helpers/tree.ts";
import { processAlive, waitUntil } from "../helpers/wait.ts";
import { pidIn, resultOf, useSlaveSetup, withDeadline } from "./harness.ts";

const setup = useSlaveSetup();

/** Per test: a few runs of a shell script, well within; a hang fails here instead of stalling the suite. */
const TEST_TIMEOUT_MS = 20_000;

/** Waits (in the shell, not the test) until the file $GO exists. */
const WAIT_FOR_GO = 'while [ ! -e "$GO" ]; do sleep 0.02; done';

describe("dt slave", () => {
  test("reports a passing and a failing task with state, exit code, phase times in order, cache counts, and uploads stdout and stderr", async () => {
    const s = await setup();
    const pass = await s.archive({ "ok.sh": shellScript('echo "out $1"\necho "err" >&2') }, { command: ["./ok.sh", "arg"] });
    const fail = await s.archive({ "fail.sh": shellScript("echo failing\nexit 3") }, { command: ["./fail.sh"] });
    const [passLease, failLease] = s.master.push({ isolate_hash: pass }, { isolate_hash: fail });
    s.startSlave();

    const ok = await resultOf(s.master, passLease!.lease_id);
    expect(ok).toMatchObject({ state: "SUCCEEDED", exit_code: 0, message: null, job_id: "job-1", task_id: passLease!.task_id, attempt: 0, artifact_key: null, artifact_missing: false });
    const t = ok.times;
    const order = [t.fetch_done_at, t.map_done_at, t.command_start_at, t.command_end_at, t.upload_done_at];
    for (const at of order) expect(at).toBeGreaterThan(1_600_000_000_000);
    expect([...order].sort((a, b) => a! - b!)).toEqual(order);
    expect(ok.cache).toEqual({ itemsHot: 0, bytesHot: 0, itemsCold: 1, bytesCold: expect.any(Number) });

    // dt uploads the logs of passing tasks too (dist_test kept them only for failures).
    expect(ok.stdout_key).toBe(outputKey("job-1", passLease!.task_id, 0, "stdout"));
    expect(ok.stderr_key).toBe(outputKey("job-1", passLease!.task_id, 0, "stderr"));
    expect(new TextDecoder().decode(s.master.output(passLease!.lease_id, "stdout"))).toBe("out arg\n");
    expect(new TextDecoder().decode(s.master.output(passLease!.lease_id, "stderr"))).toBe("err\n");

    const failed = await resultOf(s.master, failLease!.lease_id);
    expect(failed).toMatchObject({ state: "FAILED", exit_code: 3, message: null });
    expect(new TextDecoder().decode(s.master.output(failLease!.lease_id, "stdout"))).toBe("failing\n");

    // Phases only move forward (heartbeats carry them at their ticks; a quick task may report before any), and each result was posted once.
    for (const lease of [passLease!, failLease!]) {
      const phases = s.master.phases(lease.lease_id);
      const rank = { FETCHING: 0, RUNNING: 1, UPLOADING: 2 } as Record<string, number>;
      expect(phases.map((p) => rank[p])).toEqual([...phases.map((p) => rank[p]!)].sort());
      expect(s.master.resultPosts.filter((r) => r.lease_id === lease.lease_id)).toHaveLength(1);
    }
    // The slave says who it is in every lease request.
    expect(s.master.leaseRequests[0]).toMatchObject({ slave: { name: "test-slave", slots: 1, dimensions: { os: "linux", pool: "test" } }, free: 1 });
  }, TEST_TIMEOUT_MS);

  test("maps a command that cannot start to FAILED, a timeout to TIMED_OUT, a tree the CAS does not have to FAILED", async () => {
    const s = await setup();
    const missing = await s.archive({ "data.txt": "x" }, { command: ["./no-such-command"] });
    const slow = await s.archive({ "slow.sh": shellScript("sleep 30") }, { command: ["./slow.sh"] });
    const [notFound, timedOut, noTree] = s.master.push(
      { isolate_hash: missing },
      { isolate_hash: slow, timeout: 1 },
      { isolate_hash: "0".repeat(64) },
    );
    s.startSlave({ slots: 3 });
    expect(await resultOf(s.master, notFound!.lease_id)).toMatchObject({ state: "FAILED", exit_code: null, message: expect.stringContaining("cannot start") });
    expect(await resultOf(s.master, timedOut!.lease_id)).toMatchObject({ state: "TIMED_OUT", exit_code: 128 + 15, message: expect.stringContaining("timed out after 1 s") });
    // The CAS answered: it has no such manifest. The task's failure, not the slave's.
    const absent = await resultOf(s.master, noTree!.lease_id);
    expect(absent).toMatchObject({ state: "FAILED", exit_code: null, stdout_key: null, stderr_key: null });
    expect(absent.message).toStartWith(`manifest ${"0".repeat(64)} not found in http://`);
  }, TEST_TIMEOUT_MS);

  test("streams output to the master's live log while the command runs, in order, with offsets, in chunks of at most 64 KiB", async () => {
    const s = await setup();
    // 200,000 bytes at once: more than three chunks; then a wait the test ends once it has seen them.
    const hash = await s.archive(
      { "chatty.sh": shellScript(`echo first\nhead -c 200000 /dev/zero | tr '\\0' x\necho\necho to-stderr >&2\n${WAIT_FOR_GO}\necho last`) },
      { command: ["./chatty.sh"] },
    );
    const go = join(s.dir, "go");
    const [lease] = s.master.push({ isolate_hash: hash, env: { GO: go } });
    const id = lease!.lease_id;
    s.startSlave();

    await waitUntil(() => s.master.log(id, "stdout").length >= 6 + 200_001 && s.master.log(id, "stderr") === "to-stderr\n", "the live log of the running command");
    expect(s.master.results.has(id)).toBe(false);
    expect(s.master.log(id, "stdout")).toBe(`first\n${"x".repeat(200_000)}\n`);
    await writeFile(go, "");

    const result = await resultOf(s.master, id);
    expect(result.state).toBe("SUCCEEDED");
    // The ticks (every 100 ms here) saw the command running; FETCHING and UPLOADING are too short to be seen for sure.
    expect(s.master.phases(id)).toContain("RUNNING");
    const whole = `first\n${"x".repeat(200_000)}\nlast\n`;
    expect(s.master.log(id, "stdout")).toBe(whole);
    expect(new TextDecoder().decode(s.master.output(id, "stdout"))).toBe(whole);
    const appends = s.master.appends.filter((a) => a.lease === id && a.stream === "stdout");
    expect(Math.max(...appends.map((a) => a.bytes))).toBeLessThanOrEqual(64 * 1024);
    let offset = 0;
    for (const append of appends) {
      expect(append.offset).toBe(offset);
      offset += append.bytes;
    }
    expect(offset).toBe(whole.length);
  }, TEST_TIMEOUT_MS);

  test("zips the artifacts matching ** globs relative to the task root, skipping a symlink out of the task dir", async () => {
    const s = await setup();
    const outside = join(s.dir, "secret.log");
    await writeFile(outside, "not for the archive");
    const hash = await s.archive(
      {
        "work/make.sh": shellScript(
          [
            "mkdir -p ../out/sub/deep",
            "echo a > ../out/a.log",
            "echo b > ../out/sub/deep/b.log",
            "echo c > ../out/sub/c.txt",
            'ln -s "$OUTSIDE" ../out/escape.log',
            "ln -s a.log ../out/alias.log",
          ].join("\n"),
        ),
      },
      { command: ["./make.sh"], relativeCwd: "work" },
    );
    const [lease] = s.master.push({ isolate_hash: hash, env: { OUTSIDE: outside }, artifact_archive_globs: ["out/**/*.log", "work/*.sh"] });
    s.startSlave();
    const result = await resultOf(s.master, lease!.lease_id);
    expect(result).toMatchObject({ state: "SUCCEEDED", artifact_key: outputKey("job-1", lease!.task_id, 0, "artifacts"), artifact_missing: false });
    const files = unzipSync(s.master.output(lease!.lease_id, "artifacts")!);
    // alias.log is a symlink to a.log inside the tree: stored once, by its real path, as dist_test did.
    expect(Object.keys(files).sort()).toEqual(["out/a.log", "out/sub/deep/b.log", "work/make.sh"]);
    expect(new TextDecoder().decode(files["out/sub/deep/b.log"])).toBe("b\n");
  }, TEST_TIMEOUT_MS);

  test("artifacts over the cap become a zip holding only _ARCHIVE_TOO_BIG_ with the cap and the total", async () => {
    const s = await setup();
    const hash = await s.archive({ "big.sh": shellScript("head -c 100 /dev/zero > one.bin\nhead -c 50 /dev/zero > two.bin") }, { command: ["./big.sh"] });
    const [lease] = s.master.push({ isolate_hash: hash, artifact_archive_globs: ["*.bin"] });
    s.startSlave({ artifactCapBytes: 120 });
    expect(await resultOf(s.master, lease!.lease_id)).toMatchObject({ state: "SUCCEEDED", artifact_missing: false });
    const files = unzipSync(s.master.output(lease!.lease_id, "artifacts")!);
    expect(Object.keys(files)).toEqual(["_ARCHIVE_TOO_BIG_"]);
    expect(new TextDecoder().decode(files._ARCHIVE_TOO_BIG_)).toContain("(150 bytes > 120 bytes)");
  }, TEST_TIMEOUT_MS);

  test("cancel in a heartbeat answer kills the command's process group and reports CANCELED", async () => {
    const s = await setup();
    const child = s.pidFile("child.pid");
    const grandchild = s.pidFile("grandchild.pid");
    const hash = await s.archive(
      { "t.sh": shellScript(`sleep 300 &\necho $! > "$GRANDCHILD"\necho $$ > "$CHILD"\nwait`) },
      { command: ["./t.sh"] },
    );
    const [lease] = s.master.push({ isolate_hash: hash, env: { CHILD: child, GRANDCHILD: grandchild } });
    s.startSlave();
    const pids = [await pidIn(child), await pidIn(grandchild)];
    s.master.toCancel.add(lease!.lease_id);
    const result = await resultOf(s.master, lease!.lease_id);
    expect(result).toMatchObject({ state: "CANCELED", message: expect.stringContaining("canceled") });
    for (const pid of pids) await waitUntil(() => !processAlive(pid), `process ${pid} to be gone`);
  }, TEST_TIMEOUT_MS);

  test("a lease the master no longer knows is killed and its result dropped", async () => {
    const s = await setup();
    const child = s.pidFile("child.pid");
    const hash = await s.archive({ "t.sh": shellScript(`echo $$ > "$CHILD"\nexec sleep 300`) }, { command: ["./t.sh"] });
    const [lease] = s.master.push({ isolate_hash: hash, env: { CHILD: child } });
    const { slave } = s.startSlave();
    const pid = await pidIn(child);
    s.master.toForget.add(lease!.lease_id);
    await waitUntil(() => !processAlive(pid), `process ${pid} to be gone`);
    await waitUntil(() => slave.leases.length === 0, "the slave to let go of the lease");
    expect(s.master.resultPosts).toEqual([]);
    expect(s.master.output(lease!.lease_id, "stdout")).toBeUndefined();
  }, TEST_TIMEOUT_MS);

  test("keeps reporting a result while the master is down, and it is stored exactly once", async () => {
    const s = await setup();
    const failedResultPosts: number[] = [];
    const countingFetch = (async (input: string | URL | Request, init?: RequestInit) => {
      try {
        return await fetch(input, init);
      } catch (err) {
        if (String(input).includes("/result")) failedResultPosts.push(Date.now());
        throw err;
      }
    }) as typeof fetch;
    const hash = await s.archive({ "t.sh": shellScript(`echo started\n${WAIT_FOR_GO}`) }, { command: ["./t.sh"] });
    const go = join(s.dir, "go");
    const [lease] = s.master.push({ isolate_hash: hash, env: { GO: go } });
    const { slave } = s.startSlave({ fetch: countingFetch });
    await waitUntil(() => s.master.log(lease!.lease_id, "stdout") === "started\n", "the command to start");

    await s.master.stop();
    await writeFile(go, "");
    await waitUntil(() => failedResultPosts.length >= 3, "the slave to retry its result against the stopped master");
    // Back on the same port; the first answer is lost after the result was stored, so the slave must send it again.
    s.master.loseResultAcks = 1;
    await s.master.start();
    await waitUntil(() => slave.leases.length === 0, "the result to be acknowledged");

    expect(s.master.results.size).toBe(1);
    // The logs' uploads gave up while the master was away; the result went without them rather than wait.
    expect(s.master.results.get(lease!.lease_id)).toMatchObject({ state: "SUCCEEDED", exit_code: 0, stdout_key: null });
    expect(s.master.resultPosts.length).toBe(2);
  }, TEST_TIMEOUT_MS);

  test("with --slots 2, two leases run at the same time", async () => {
    const s = await setup();
    const hash = await s.archive({ "t.sh": shellScript(`touch "$STARTED"\n${WAIT_FOR_GO}`) }, { command: ["./t.sh"] });
    const go = join(s.dir, "go");
    const started = [join(s.dir, "started-1"), join(s.dir, "started-2")];
    const leases = s.master.push(...started.map((path) => ({ isolate_hash: hash, env: { GO: go, STARTED: path } })));
    s.startSlave({ slots: 2 });
    await waitUntil(async () => (await Promise.all(started.map((p) => Bun.file(p).exists()))).every(Boolean), "both commands to run at once");
    expect(s.master.leaseRequests[0]?.free).toBe(2);
    await writeFile(go, "");
    for (const lease of leases) expect(await resultOf(s.master, lease.lease_id)).toMatchObject({ state: "SUCCEEDED" });
  }, TEST_TIMEOUT_MS);

  test("drain: asks for nothing more, lets the running task finish, then run() returns", async () => {
    const s = await setup();
    const hash = await s.archive({ "t.sh": shellScript(`echo started\n${WAIT_FOR_GO}`) }, { command: ["./t.sh"] });
    const go = join(s.dir, "go");
    const [lease] = s.master.push({ isolate_hash: hash, env: { GO: go } });
    const { slave, run } = s.startSlave({ slots: 2 });
    await waitUntil(() => s.master.log(lease!.lease_id, "stdout") === "started\n", "the command to start");
    // With a slot free, the slave holds a long-poll open: the drain must withdraw it.
    await waitUntil(() => s.master.waiting === 1, "the long-poll for the free slot");
    expect(s.master.leaseRequests.at(-1)?.free).toBe(1);
    slave.drain();
    const requestsAtDrain = s.master.leaseRequests.length;
    // The withdrawn request reaches the master as a closed connection; a task queued after that stays queued.
    await waitUntil(() => s.master.waiting === 0, "the master to see the long-poll withdrawn");
    const [queued] = s.master.push({ isolate_hash: hash, env: { GO: go } });
    await waitUntil(() => s.master.heartbeats.some((b) => b.slave.draining === true), "a heartbeat saying draining");
    await writeFile(go, "");
    await withDeadline(run, 10_000, "run() to return after the drain");
    expect(s.master.results.get(lease!.lease_id)).toMatchObject({ state: "SUCCEEDED" });
    expect(s.master.leaseRequests.length).toBe(requestsAtDrain);
    expect(s.master.queue.map((l) => l.lease_id)).toEqual([queued!.lease_id]);
  }, TEST_TIMEOUT_MS);

  test("a master that refuses the lease requests (4xx) makes run() fail with its message instead of polling forever", async () => {
    const s = await setup();
    s.master.refuseLeases = 403;
    const { run } = s.startSlave();
    const error = await withDeadline(run.catch((e) => e), 10_000, "run() to fail");
    expect(error.message).toContain("slave not allowed");
    expect(s.master.leaseRequests).toHaveLength(1);
  }, TEST_TIMEOUT_MS);

  test("drain timeout: a task still running is killed and reported INFRA_FAILED for the master to requeue", async () => {
    const s = await setup();
    const child = s.pidFile("child.pid");
    const hash = await s.archive({ "t.sh": shellScript(`echo $$ > "$CHILD"\nexec sleep 300`) }, { command: ["./t.sh"] });
    const [lease] = s.master.push({ isolate_hash: hash, env: { CHILD: child } });
    const { slave, run } = s.startSlave({ drainTimeoutMs: 300 });
    const pid = await pidIn(child);
    slave.drain();
    await withDeadline(run, 10_000, "run() to return after the drain timeout");
    const result = s.master.results.get(lease!.lease_id);
    expect(result).toMatchObject({ state: "INFRA_FAILED" });
    expect(result!.message).toContain("drained");
    expect(result!.message).toContain("requeue");
    expect(processAlive(pid)).toBe(false);
  }, TEST_TIMEOUT_MS);
});

/**
 * Scenarios 4–7: what users do and machines suffer. A cancel of a job whose
 * commands fork a grandchild; a 10,000-task load from three concurrent
 * `dt submit`s; a slave whose cache is a 20 MB tmpfs given a 30 MB task; a
 * task that writes as fast as it can for twice the lease TTL while a CPU
 * hog keeps both cores busy.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { startServerProcess } from "../cluster/procs.ts";
import { timedRun } from "../isolate/procs.ts";
import { type LeaseTiming, MARK } from "./harness.ts";
import { type Scenario, TWO_SLAVES, submitJob, submitUniformJob } from "./scenario.ts";

/** Concurrent submitters of the big load. */
const SUBMITTERS = 3;
/** The slave cache's filesystem, and the input that does not fit in it. */
const TMPFS_SIZE = "20m";
const BIG_INPUT_BYTES = 30 * 1024 * 1024;
/**
 * dt master's defaults, under which the issue saw a chatty task lose its
 * lease after 41–62 s: a backlog that grows with time may not show within a
 * short TTL's few seconds.
 */
const CHATTY_LEASE: LeaseTiming = { ttlSec: 30, heartbeatSec: 5 };
/** The chatty task writes for this long: twice the lease TTL, so a starved heartbeat would lose the lease. */
const CHATTY_SEC = 2 * CHATTY_LEASE.ttlSec;

export const cancel: Scenario = {
  name: "cancel",
  summary: "`dt cancel` of 4 tasks (max_retries 2) whose command forks `sleep 300 &`; attempt 0 exits 1, the retry sleeps; no process may be left",
  slaves: TWO_SLAVES,
  deadlineMs: () => 90_000,
  async run(ctx) {
    const c = ctx.cluster;
    // The first attempt fails at once and leaves its grandchild behind; the retry runs on with its own.
    const jobId = await submitUniformJob(ctx, "forker", `sleep 300 &\nif [ "$DT_ATTEMPT" = 0 ]; then exit 1; fi\nsleep 300\n${MARK}`, 4, { max_retries: 2 });
    ctx.record.expectedGroup = () => "canceled";
    ctx.record.recoveryIsProcessesGone = true;
    try {
      await c.waitTasks(jobId, "every task's retry to run", (tasks) => tasks.every((t) => t.attempts.some((a) => a.retry > 0 && a.state === "RUNNING")), Math.min(30_000, ctx.remainingMs()));
    } catch (err) {
      // Cancel anyway: what is left after it is the point, and why no retry ran is a finding.
      ctx.record.notes.push(`no retry running before the cancel: ${(err as Error).message.split("\n", 1)[0]}`);
    }
    ctx.record.faultAt = Date.now();
    await c.client(["cancel", jobId]);
  },
};

export const big: Scenario = {
  name: "big",
  summary: `one load split over ${SUBMITTERS} concurrent \`dt submit\` processes (10,000 tasks unless --tasks), each task only writes its mark`,
  slaves: TWO_SLAVES,
  // Past 100 tasks/s on 4 slots, 25 tasks/s means stuck; plus start-up and submission.
  deadlineMs: (o) => 60_000 + 40 * o.tasks,
  async run(ctx) {
    const c = ctx.cluster;
    const marker = await c.manifest(MARK);
    const per = Math.ceil(ctx.options.tasks / SUBMITTERS);
    const jobs = await Promise.all(
      Array.from({ length: SUBMITTERS }, (_, s) => {
        const tasks = Array.from({ length: Math.max(0, Math.min(per, ctx.options.tasks - s * per)) }, (_, i) => c.task(marker, `mark-${s}-${i}`));
        ctx.record.submitted += tasks.length;
        return c.submitWithClient(`chaos-big-${s}`, tasks);
      }),
    );
    ctx.record.jobIds.push(...jobs);
  },
};

export const tmpfsCache: Scenario = {
  name: "tmpfs-cache",
  summary: `a slave whose cache and run dirs are a ${TMPFS_SIZE}B tmpfs (--min-free-disk 1MiB) gets a task with a 30 MiB input beside 2 small ones; it must end FAILED with a reason`,
  slaves: [],
  deadlineMs: () => 120_000,
  async run(ctx) {
    const c = ctx.cluster;
    const mount = join(c.dir, "tmpfs");
    mkdirSync(mount, { recursive: true });
    await timedRun(["mount", "-t", "tmpfs", "-o", `size=${TMPFS_SIZE}`, "tmpfs", mount], { timeoutMs: 10_000 });
    c.onStop(async () => {
      // Lazily if something still holds it: the slave was SIGKILLed a moment ago.
      await timedRun(["umount", mount], { timeoutMs: 10_000 }).catch(() => timedRun(["umount", "-l", mount], { timeoutMs: 10_000 }));
    });
    // Without --min-free-disk the slave would quarantine itself at once: a 20 MB disk is below the 1 GiB default.
    await c.startSlave({ name: "slave-tmpfs", slots: 2, args: ["--cache-dir", join(mount, "cache"), "--root-dir", join(mount, "runs"), "--min-free-disk", "1MiB"] });
    const heavy = await c.manifest(`wc -c < big.bin\n${MARK}`, { "big.bin": new Uint8Array(randomBytes(BIG_INPUT_BYTES)) });
    const light = await c.manifest(MARK);
    await submitJob(ctx, "chaos-tmpfs", [c.task(heavy, "too-big"), c.task(light, "small-1"), c.task(light, "small-2")]);
    ctx.record.expectedGroup = (t) => (t.description === "too-big" ? "failed" : "succeeded");
    ctx.record.check = (tasks) => {
      const task = tasks.find((t) => t.description === "too-big");
      const last = task?.attempts.at(-1);
      const infra = task?.attempts.filter((a) => a.state === "INFRA_FAILED").length ?? 0;
      return {
        failures: [task?.group === "failed" && !last?.message ? "the too-big task failed without a reason" : "", infra > 0 ? `the too-big task went through ${infra} INFRA_FAILED attempts` : ""].filter(Boolean),
        notes: last?.message ? [`too-big: ${last.state} "${last.message.slice(0, 120)}"`] : [],
      };
    };
  },
};

export const chatty: Scenario = {
  name: "chatty",
  summary: `a task writing as fast as it can for ${CHATTY_SEC} s (2 × the default lease TTL of ${CHATTY_LEASE.ttlSec} s) beside 40 × \`sleep 2\`, while a CPU hog keeps every core busy; it must keep its lease`,
  slaves: TWO_SLAVES,
  lease: CHATTY_LEASE,
  // The chatter, then a lost lease's TTL and a second run if it comes to that.
  deadlineMs: () => (2 * CHATTY_SEC + CHATTY_LEASE.ttlSec + 30) * 1000,
  async run(ctx) {
    const c = ctx.cluster;
    for (let i = 0; i < availableParallelism(); i++) {
      const hog = startServerProcess(`cpu hog ${i}`, ["sh", "-c", "while :; do :; done"]);
      c.onStop(() => hog.stop());
    }
    // bash's SECONDS: no fork per line, so the loop writes megabytes per second, as the chatty test in the issue did.
    const talker = await c.manifest(`bash -c 'while [ $SECONDS -lt ${CHATTY_SEC} ]; do echo "chatty line: the quick brown fox jumps over the lazy dog 0123456789"; done'\n${MARK}`);
    // Beside it, for as long as it talks: the slave keeps leasing, running and reporting other tasks, as in the issue.
    const napper = await c.manifest(`sleep 2\n${MARK}`);
    await submitJob(ctx, "chaos-chatty", [c.task(talker, "chatty", { priority: 1 }), ...Array.from({ length: 40 }, (_, i) => c.task(napper, `nap-${i}`))]);
    ctx.record.check = (tasks) => {
      const task = tasks.find((t) => t.description === "chatty");
      const lost = task?.attempts.filter((a) => a.state !== "SUCCEEDED") ?? [];
      return {
        failures: lost.length > 0 ? [`the chatty task lost ${lost.length} attempts: ${lost.map((a) => `${a.state} (${a.message ?? "no message"})`).join("; ")}`] : [],
        notes: [],
      };
    };
  },
};

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { repoQuarantineConformance } from "./repo-quarantine.conformance.ts";
import { repoReuseConformance } from "./repo-reuse.conformance.ts";
import { isDtError } from "../../src/common/errors.ts";
import { ATTEMPT_STATES, TERMINAL_STATES, type Attempt, type AttemptState, type Job, type SlaveInfo, type Task } from "../../src/master/model.ts";
import type { Repo } from "../../src/master/repo/repo.ts";
import { repoCaseConformance, repoTaskCaseRunsConformance } from "./repo-cases.conformance.ts";
import { repoFlakyConformance } from "./repo-flaky.conformance.ts";
import { repoBinaryHistoryConformance } from "./repo-binaries.conformance.ts";

/** A fresh, empty repo; `reopen` opens the same store again after `repo.close()`, where the store outlives its connection. */
export type RepoOpener = () => Promise<{ repo: Repo; reopen?: () => Promise<Repo>; cleanup: () => Promise<void> }>;

/** Cases an implementation cannot run, each with the reason, printed beside the skip. */
export interface RepoSkips {
  reopen?: string;
}

const T0 = 1_700_000_000_000;

export function makeJob(id: string, over: Partial<Job> = {}): Job {
  return { id, user: "alice", name: null, priority: 0, createdAt: T0, canceledAt: null, ...over };
}

export function makeTask(jobId: string, index: number, over: Partial<Task> = {}): Task {
  const hash = index.toString(16).padStart(64, "a");
  return { jobId, taskId: `${hash}.${index}`, index, isolateHash: hash, description: `test ${index}`, timeoutSec: 0, maxRetries: 0, artifactGlobs: [], resultGlobs: null, env: {}, dimensions: {}, priority: 0, shardIndex: null, shardCount: null, caseFilter: null, caseSelection: null, retryMode: "cases", idempotent: false, taskKey: null, ...over };
}

export function makeAttempt(task: Task, over: Partial<Attempt> = {}): Attempt {
  return {
    ...{ jobId: task.jobId, taskId: task.taskId, attempt: 0, retry: 0, state: "QUEUED", slave: null, leaseId: null, leaseExpiresAt: null, exitCode: null },
    ...{ stdoutKey: null, stderrKey: null, artifactKey: null, artifactMissing: false, cache: null, outputsRef: null, message: null, caseSelection: null, quarantined: false, reusedFrom: null, queuedAt: T0, leasedAt: null },
    ...{ fetchDoneAt: null, mapDoneAt: null, commandStartAt: null, commandEndAt: null, uploadDoneAt: null, reportedAt: null },
    ...over,
  };
}

/** A job of `n` tasks, each with its first attempt. */
export function makeJobWithTasks(id: string, n: number, over: Partial<Job> = {}): { job: Job; tasks: Task[]; attempts: Attempt[] } {
  const tasks = Array.from({ length: n }, (_, i) => makeTask(id, i));
  return { job: makeJob(id, over), tasks, attempts: tasks.map((t) => makeAttempt(t)) };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable("expected a rejection"),
    (err) => err,
  );
}

/** Every field set, to prove the round trip of each. */
const fullTask = (jobId: string): Task =>
  makeTask(jobId, 7, { description: "it's \"quoted\" ✓", timeoutSec: 900, maxRetries: 3, artifactGlobs: ["out/**", "*.xml"], resultGlobs: ["reports/*.xml"], env: { A: "1", "Ü": "a=b;c" }, dimensions: { os: "linux", pool: "ci" }, priority: -5, shardIndex: 3, shardCount: 8 });
const fullAttempt = (task: Task): Attempt =>
  makeAttempt(task, {
    ...{ attempt: 2, retry: 1, state: "SUCCEEDED", slave: "host-1", leaseId: "lease-x", leaseExpiresAt: T0 + 9, exitCode: 0, stdoutKey: "o", stderrKey: "e", artifactKey: "a" },
    ...{ artifactMissing: true, cache: { itemsHot: 1, bytesHot: 2 ** 40, itemsCold: 3, bytesCold: 4 }, message: "done", leasedAt: T0 + 1, fetchDoneAt: T0 + 2 },
    ...{ mapDoneAt: T0 + 3, commandStartAt: T0 + 4, commandEndAt: T0 + 5, uploadDoneAt: T0 + 6, reportedAt: T0 + 7 },
    outputsRef: { isolated: "b".repeat(64), isolatedserver: "https://cas.example:4242/prefix", namespace: "sha-256" },
  });

/**
 * The behaviour every Repo must have. Each implementation's test file calls
 * this once; a store that must skip a case passes the reason in `skips`.
 */
export function repoConformance(name: string, open: RepoOpener, skips: RepoSkips = {}): void {
  describe(`Repo conformance: ${name}`, () => {
    let repo: Repo;
    let reopen: (() => Promise<Repo>) | undefined;
    let cleanup: () => Promise<void>;
    /** Set by a test that closed the repo itself. */
    let closed = false;
    beforeEach(async () => {
      ({ repo, reopen, cleanup } = await open());
      closed = false;
    });
    afterEach(async () => {
      if (!closed) await repo.close();
      await cleanup();
    });

    repoCaseConformance(() => repo, async (id) => {
      const { job, tasks, attempts } = makeJobWithTasks(id, 1);
      await repo.createJob(job, tasks, attempts);
    });
    repoTaskCaseRunsConformance(() => repo, async (id) => {
      const { job, tasks, attempts } = makeJobWithTasks(id, 1);
      await repo.createJob(job, tasks, attempts);
    });

    test("an attempt keeps its own case selection (a retry's cases), include or exclude, names as given", async () => {
      const { job, tasks, attempts } = makeJobWithTasks("sel.1", 1);
      await repo.createJob(job, tasks, attempts);
      const include = { include: [{ suite: "Süite/1", name: "a:b-c ✓" }, { suite: "S", name: "x" }] };
      const exclude = { exclude: [{ suite: "S", name: "passed" }] };
      await repo.insertAttempt(makeAttempt(tasks[0]!, { attempt: 1, retry: 1, caseSelection: include }));
      await repo.insertAttempt(makeAttempt(tasks[0]!, { attempt: 2, retry: 2, caseSelection: exclude }));
      expect((await repo.getAttempt("sel.1", tasks[0]!.taskId, 1))?.caseSelection).toEqual(include);
      expect((await repo.getAttempts("sel.1")).map((a) => a.caseSelection)).toEqual([null, include, exclude]);
    });

    repoQuarantineConformance(() => repo, async (id) => {
      const { job, tasks, attempts } = makeJobWithTasks(id, 1);
      await repo.createJob(job, tasks, attempts);
      return tasks[0]!.taskId;
    });

    repoReuseConformance(() => repo);

    repoBinaryHistoryConformance(() => repo, { job: makeJob, task: makeTask, attempt: makeAttempt });

    repoFlakyConformance(() => repo, async (id, createdAt) => {
      const { job, tasks, attempts } = makeJobWithTasks(id, 1, { createdAt });
      await repo.createJob(job, tasks, attempts);
    });

    test("ping answers while the repo is open, and rejects with DtError unreachable once it is closed", async () => {
      expect(await repo.ping()).toBeUndefined();
      await repo.close();
      closed = true;
      const err = await rejection(repo.ping());
      expect(isDtError(err, "unreachable")).toBe(true);
      expect((err as Error).message).toMatch(/SQLite|MySQL/);
    });

    test("createJob stores every field, nulls and JSON included", async () => {
      const job = makeJob("full.alice.1700000000.1", { name: "full", priority: 4, canceledAt: T0 + 1 });
      const task = fullTask(job.id);
      const plain = makeTask(job.id, 0);
      const attempts = [fullAttempt(task), makeAttempt(plain)];
      await repo.createJob(job, [task, plain], attempts);
      expect(await repo.getJob(job.id)).toEqual(job);
      expect(await repo.getTask(job.id, task.taskId)).toEqual(task);
      expect(await repo.getTasks(job.id)).toEqual([plain, task]);
      expect(await repo.getAttempt(job.id, task.taskId, 2)).toEqual(attempts[0]!);
      expect(await repo.getAttempt(job.id, plain.taskId, 0)).toEqual(attempts[1]!);
      expect(await repo.getJob("nope")).toBeNull();
      expect(await repo.getTask(job.id, "nope")).toBeNull();
      expect(await repo.getAttempt(job.id, task.taskId, 0)).toBeNull();
    });

    test("tasks come in index order and attempts by task index then attempt", async () => {
      const job = makeJob("order.alice.1700000000.1");
      const tasks = [3, 0, 2, 1].map((i) => makeTask(job.id, i));
      const attempts = tasks.flatMap((t) => [makeAttempt(t, { attempt: 1, state: "FAILED" }), makeAttempt(t, { attempt: 0, state: "SLAVE_LOST" })]);
      await repo.createJob(job, tasks, attempts);
      expect((await repo.getTasks(job.id)).map((t) => t.index)).toEqual([0, 1, 2, 3]);
      expect((await repo.getAttempts(job.id)).map((a) => `${a.taskId.split(".")[1]}/${a.attempt}`)).toEqual(["0/0", "0/1", "1/0", "1/1", "2/0", "2/1", "3/0", "3/1"]);
      await repo.insertAttempt(makeAttempt(tasks[3]!, { attempt: 2 }));
      expect((await repo.getAttempts(job.id)).filter((a) => a.taskId === tasks[3]!.taskId).map((a) => a.attempt)).toEqual([0, 1, 2]);
    });

    test("task and attempt heads are the tasks' and attempts' fields they name, in the same order and slices", async () => {
      const job = makeJob("heads.alice.1700000000.1");
      const tasks = [2, 0, 1, 3].map((i) => makeTask(job.id, i, { description: `bin.${i}`, shardIndex: i, shardCount: 4 }));
      const origin = { jobId: "other.1", taskId: "t.0", attempt: 0, savedMs: 1_500, inFlight: true };
      const attempts = tasks.flatMap((t) => [
        makeAttempt(t, { attempt: 0, state: "FAILED", retry: 0, quarantined: t.index === 1, leasedAt: 10, reportedAt: 20 }),
        makeAttempt(t, { attempt: 1, state: "QUEUED", retry: 1, ...(t.index === 3 ? { reusedFrom: origin } : {}) }),
      ]);
      await repo.createJob(job, tasks, attempts);
      const pick = <T extends object, K extends keyof T>(o: T, keys: readonly K[]) => Object.fromEntries(keys.map((k) => [k, o[k]]));
      const taskKeys = ["index", "taskId", "description", "shardIndex", "shardCount"] as const;
      const attemptKeys = ["taskId", "attempt", "retry", "state", "quarantined", "leasedAt", "reportedAt", "reusedFrom"] as const;
      for (const slice of [undefined, { from: 1, to: 3 }, { from: 4, to: 9 }]) {
        expect(await repo.getTaskHeads(job.id, slice)).toEqual((await repo.getTasks(job.id, slice)).map((t) => pick(t, taskKeys)) as never);
        expect(await repo.getAttemptHeads(job.id, slice)).toEqual((await repo.getAttempts(job.id, slice)).map((a) => pick(a, attemptKeys)) as never);
      }
      expect((await repo.getAttemptHeads(job.id, { from: 1, to: 3 })).map((a) => `${a.taskId.split(".")[1]}/${a.attempt}`)).toEqual(["1/0", "1/1", "2/0", "2/1"]);
      expect((await repo.getAttemptHeads(job.id)).find((a) => a.reusedFrom)?.reusedFrom).toEqual(origin);
      expect(await repo.getTaskHeads("no.such.job")).toEqual([]);
    });

    test("a job id that exists is refused, naming it, and nothing of the second job is stored", async () => {
      const first = makeJobWithTasks("dup.alice.1700000000.1", 2);
      await repo.createJob(first.job, first.tasks, first.attempts);
      const second = makeJobWithTasks(first.job.id, 3, { user: "bob" });
      second.tasks[2]!.description = "only in the second";
      const err = await rejection(repo.createJob(second.job, second.tasks, second.attempts));
      expect(isDtError(err, "invalid_input")).toBe(true);
      expect((err as Error).message).toBe(`job id ${first.job.id} already exists; choose another name`);
      expect(await repo.getJob(first.job.id)).toEqual(first.job);
      expect(await repo.getTasks(first.job.id)).toEqual(first.tasks);
      expect(await repo.getAttempts(first.job.id)).toEqual(first.attempts);
    });

    test("createJob is all or nothing", async () => {
      const { job, tasks, attempts } = makeJobWithTasks("bad.alice.1700000000.1", 3);
      attempts.push({ ...attempts[2]! }); // the same attempt twice: refused only after the job and tasks are written
      expect(await rejection(repo.createJob(job, tasks, attempts))).toBeInstanceOf(Error);
      expect(await repo.getJob(job.id)).toBeNull();
      expect(await repo.getTasks(job.id)).toEqual([]);
    });

    test("updateAttempt applies a patch only from the given states, so a repeated report changes nothing", async () => {
      const { job, tasks, attempts } = makeJobWithTasks("upd.alice.1700000000.1", 1);
      await repo.createJob(job, tasks, attempts);
      const key = [job.id, tasks[0]!.taskId, 0] as const;
      expect(await repo.updateAttempt(...key, { state: "LEASED", slave: "h", leaseId: "l1", leasedAt: T0 + 1 }, ["QUEUED"])).toBe(true);
      expect(await repo.updateAttempt(...key, { state: "LEASED", slave: "other" }, ["QUEUED"])).toBe(false);
      const report = { state: "FAILED", exitCode: 1, cache: { itemsHot: 1, bytesHot: 2, itemsCold: 0, bytesCold: 0 }, artifactMissing: true } as const;
      expect(await repo.updateAttempt(...key, report, ["LEASED", "RUNNING"])).toBe(true);
      expect(await repo.updateAttempt(...key, { ...report, exitCode: 2 }, ["LEASED", "RUNNING"])).toBe(false);
      expect(await repo.getAttempt(...key)).toEqual({ ...attempts[0]!, ...report, slave: "h", leaseId: "l1", leasedAt: T0 + 1 });
      expect(await repo.updateAttempt(...key, { message: "any state" })).toBe(true);
      expect(await repo.updateAttempt(...key, { slave: null, leaseId: null, cache: null, artifactMissing: false })).toBe(true);
      expect(await repo.getAttempt(...key)).toMatchObject({ message: "any state", slave: null, leaseId: null, cache: null, artifactMissing: false });
      expect(await repo.updateAttempt(...key, { message: "x" }, [])).toBe(false);
      expect(await repo.updateAttempt(job.id, "missing", 0, { message: "x" })).toBe(false);
      expect(await repo.updateAttempt(...key, {}, ["FAILED"])).toBe(true);
      expect(await repo.updateAttempt(...key, {}, ["QUEUED"])).toBe(false);
    });

    test("outputsRef: null until a report sets it, then read back as the object it was", async () => {
      const { job, tasks, attempts } = makeJobWithTasks("outputs.alice.1700000000.1", 2);
      await repo.createJob(job, tasks, attempts);
      const key = [job.id, tasks[0]!.taskId, 0] as const;
      expect((await repo.getAttempt(...key))!.outputsRef).toBeNull();
      const outputsRef = { isolated: "c".repeat(64), isolatedserver: "http://127.0.0.1:4242", namespace: "sha-256" };
      expect(await repo.updateAttempt(...key, { state: "SUCCEEDED", outputsRef }, ["QUEUED"])).toBe(true);
      expect((await repo.getAttempt(...key))!.outputsRef).toEqual(outputsRef);
      expect((await repo.getAttempts(job.id)).map((a) => a.outputsRef)).toEqual([outputsRef, null]);
    });

    test("insertAttempt adds a try, and refuses one that exists", async () => {
      const { job, tasks, attempts } = makeJobWithTasks("ins.alice.1700000000.1", 1);
      await repo.createJob(job, tasks, attempts);
      const next = makeAttempt(tasks[0]!, { attempt: 1, retry: 1, queuedAt: T0 + 5 });
      await repo.insertAttempt(next);
      expect(await repo.getAttempt(job.id, tasks[0]!.taskId, 1)).toEqual(next);
      expect(await rejection(repo.insertAttempt(next))).toBeInstanceOf(Error);
    });

    test("transaction commits every write, or none when fn throws", async () => {
      const a = makeJobWithTasks("txa.alice.1700000000.1", 2);
      await repo.createJob(a.job, a.tasks, a.attempts);
      const committed = await repo.transaction(async (tx) => {
        await tx.updateAttempt(a.job.id, a.tasks[0]!.taskId, 0, { state: "CANCELED" });
        await tx.insertAttempt(makeAttempt(a.tasks[0]!, { attempt: 1 }));
        return "value";
      });
      expect(committed).toBe("value");
      expect((await repo.getAttempts(a.job.id)).map((x) => x.state)).toEqual(["CANCELED", "QUEUED", "QUEUED"]);

      const b = makeJobWithTasks("txb.alice.1700000000.1", 2);
      const boom = new Error("boom");
      const err = await rejection(
        repo.transaction(async (tx) => {
          await tx.createJob(b.job, b.tasks, b.attempts);
          await tx.updateAttempt(a.job.id, a.tasks[1]!.taskId, 0, { state: "FAILED" });
          await tx.setJobCanceled(a.job.id, T0);
          await tx.recordDuration("k", 5, T0);
          throw boom;
        }),
      );
      expect(err).toBe(boom);
      expect(await repo.getJob(b.job.id)).toBeNull();
      expect((await repo.getAttempts(a.job.id)).map((x) => x.state)).toEqual(["CANCELED", "QUEUED", "QUEUED"]);
      expect((await repo.getJob(a.job.id))?.canceledAt).toBeNull();
      expect((await repo.expectedDurations(["k"])).size).toBe(0);
    });

    test("a write from outside a transaction is not rolled back with it", async () => {
      const a = makeJobWithTasks("iso.alice.1700000000.1", 2);
      await repo.createJob(a.job, a.tasks, a.attempts);
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let started!: () => void;
      const inside = new Promise<void>((r) => (started = r));
      const tx = repo.transaction(async (t) => {
        await t.updateAttempt(a.job.id, a.tasks[0]!.taskId, 0, { message: "in tx" });
        started();
        await held;
        throw new Error("rolled back");
      });
      await inside;
      const outside = repo.updateAttempt(a.job.id, a.tasks[1]!.taskId, 0, { message: "outside" });
      release();
      expect(await rejection(tx)).toBeInstanceOf(Error);
      expect(await outside).toBe(true);
      expect((await repo.getAttempts(a.job.id)).map((x) => x.message)).toEqual([null, "outside"]);
    });

    test("openAttempts returns exactly the attempts not in a terminal state, across jobs", async () => {
      const open: string[] = [];
      for (const [j, id] of ["open1.alice.1700000000.1", "open2.bob.1700000000.2"].entries()) {
        const job = makeJob(id);
        const tasks = ATTEMPT_STATES.map((_, i) => makeTask(id, i));
        const attempts = tasks.map((t, i) => makeAttempt(t, { state: ATTEMPT_STATES[i] as AttemptState, queuedAt: T0 + j * 100 + i }));
        await repo.createJob(job, tasks, attempts);
        open.push(...attempts.filter((a) => !TERMINAL_STATES.has(a.state)).map((a) => `${a.jobId}/${a.taskId}/${a.state}`));
      }
      const found = (await repo.openAttempts()).map((a) => `${a.jobId}/${a.taskId}/${a.state}`);
      expect(found.toSorted()).toEqual(open.toSorted());
      expect(open.length).toBe(2 * (ATTEMPT_STATES.length - TERMINAL_STATES.size));
    });

    test("findAttemptByLease finds the attempt holding a lease", async () => {
      const { job, tasks, attempts } = makeJobWithTasks("lease.alice.1700000000.1", 3);
      attempts[1] = makeAttempt(tasks[1]!, { state: "RUNNING", leaseId: "lease-1", slave: "h" });
      await repo.createJob(job, tasks, attempts);
      expect(await repo.findAttemptByLease("lease-1")).toEqual(attempts[1]!);
      expect(await repo.findAttemptByLease("lease-2")).toBeNull();
    });

    test("listJobs: newest first, filtered by user, name and time, limited", async () => {
      const jobs = [makeJob("j0", { createdAt: T0 }), makeJob("j1", { createdAt: T0 + 10, user: "bob", name: "nightly" }), makeJob("j2", { createdAt: T0 + 20, name: "nightly" }), makeJob("j3", { createdAt: T0 + 30, user: "bob" })];
      for (const job of jobs) await repo.createJob(job, [], []);
      const ids = async (filter: Parameters<Repo["listJobs"]>[0]) => (await repo.listJobs(filter)).map((j) => j.id);
      expect(await repo.listJobs({})).toEqual(jobs.toReversed());
      expect(await ids({ user: "bob" })).toEqual(["j3", "j1"]);
      expect(await ids({ name: "nightly" })).toEqual(["j2", "j1"]);
      expect(await ids({ user: "bob", name: "nightly" })).toEqual(["j1"]);
      // since is inclusive, until exclusive: [since, until).
      expect(await ids({ since: T0 + 10, until: T0 + 30 })).toEqual(["j2", "j1"]);
      expect(await ids({ limit: 2 })).toEqual(["j3", "j2"]);
      for (let i = 0; i < 101; i++) await repo.createJob(makeJob(`many.${i}`, { createdAt: T0 - 1 - i }), [], []);
      expect((await repo.listJobs({})).length).toBe(100);
      expect((await repo.listJobs({ limit: 1000 })).length).toBe(105);
    });

    test("getAttempts reads a slice of a job's tasks by index, and nothing past its last task", async () => {
      const a = makeJobWithTasks("sliced", 5);
      await repo.createJob(a.job, a.tasks, a.attempts);
      await repo.insertAttempt(makeAttempt(a.tasks[2]!, { attempt: 1, queuedAt: T0 + 1 }));
      expect((await repo.getAttempts("sliced", { from: 1, to: 3 })).map((x) => [x.taskId, x.attempt])).toEqual([[a.tasks[1]!.taskId, 0], [a.tasks[2]!.taskId, 0], [a.tasks[2]!.taskId, 1]]);
      expect(await repo.getAttempts("sliced", { from: 5, to: 10 })).toEqual([]);
      expect(await repo.getAttempts("sliced")).toHaveLength(6);
      // Empty and inverted ranges are empty; a range is [from, to) on the task's index, whatever the order of insertion.
      expect(await repo.getAttempts("sliced", { from: 2, to: 2 })).toEqual([]);
      expect(await repo.getAttempts("sliced", { from: 3, to: 1 })).toEqual([]);
      expect((await repo.getAttempts("sliced", { from: 4, to: 5 })).map((x) => x.taskId)).toEqual([a.tasks[4]!.taskId]);
      expect((await repo.getAttempts("sliced", { from: -5, to: 1 })).map((x) => x.taskId)).toEqual([a.tasks[0]!.taskId]);
      expect(await repo.getAttempts("no-such-job", { from: 0, to: 10 })).toEqual([]);
      // Slices read one after another give exactly the whole, in the same order.
      const whole = await repo.getAttempts("sliced");
      const sliced = [...(await repo.getAttempts("sliced", { from: 0, to: 2 })), ...(await repo.getAttempts("sliced", { from: 2, to: 4 })), ...(await repo.getAttempts("sliced", { from: 4, to: 6 }))];
      expect(sliced).toEqual(whole);
      // getTasks slices the same way.
      expect((await repo.getTasks("sliced", { from: 1, to: 3 })).map((t) => t.index)).toEqual([1, 2]);
      expect(await repo.getTasks("sliced", { from: 3, to: 1 })).toEqual([]);
      expect(await repo.getTasks("sliced", { from: 5, to: 10 })).toEqual([]);
      expect([...(await repo.getTasks("sliced", { from: 0, to: 3 })), ...(await repo.getTasks("sliced", { from: 3, to: 6 }))]).toEqual(await repo.getTasks("sliced"));
    });

    test("cancelQueuedAttempts ends at most `limit` QUEUED attempts of the job per call, and no other attempt", async () => {
      const a = makeJobWithTasks("big", 7);
      a.attempts[0] = { ...a.attempts[0]!, state: "RUNNING", slave: "s", leaseId: "l0" };
      a.attempts[1] = { ...a.attempts[1]!, state: "FAILED" };
      await repo.createJob(a.job, a.tasks, a.attempts);
      const b = makeJobWithTasks("other", 2);
      await repo.createJob(b.job, b.tasks, b.attempts);
      expect(await repo.cancelQueuedAttempts("big", T0 + 5, 0)).toBe(0);
      expect(await repo.cancelQueuedAttempts("no-such-job", T0 + 5, 2)).toBe(0);
      expect(await repo.cancelQueuedAttempts("big", T0 + 5, 2)).toBe(2);
      expect(await repo.cancelQueuedAttempts("big", T0 + 5, 2)).toBe(2);
      expect(await repo.cancelQueuedAttempts("big", T0 + 5, 2)).toBe(1);
      expect(await repo.cancelQueuedAttempts("big", T0 + 5, 2)).toBe(0);
      const states = (await repo.getAttempts("big")).map((x) => x.state);
      expect(states).toEqual(["RUNNING", "FAILED", "CANCELED", "CANCELED", "CANCELED", "CANCELED", "CANCELED"]);
      const canceled = (await repo.getAttempts("big"))[4]!;
      expect(canceled.message).toBe("[canceled]");
      expect(canceled.reportedAt).toBe(T0 + 5);
      expect((await repo.getAttempts("other")).map((x) => x.state)).toEqual(["QUEUED", "QUEUED"]);
    });

    test("setJobCanceled keeps the first cancel's time and refuses an unknown job", async () => {
      await repo.createJob(makeJob("c.alice.1700000000.1"), [], []);
      await repo.setJobCanceled("c.alice.1700000000.1", T0 + 5);
      await repo.setJobCanceled("c.alice.1700000000.1", T0 + 9);
      expect((await repo.getJob("c.alice.1700000000.1"))?.canceledAt).toBe(T0 + 5);
      expect(isDtError(await rejection(repo.setJobCanceled("nope", T0)), "not_found")).toBe(true);
    });

    test("durations: the first measurement as is, then new = 0.7·old + 0.3·measured", async () => {
      expect(await repo.expectedDurations([])).toEqual(new Map());
      await repo.recordDuration("a", 1000, T0);
      await repo.recordDuration("b", 50, T0);
      expect(await repo.expectedDurations(["a", "b", "none"])).toEqual(new Map([["a", 1000], ["b", 50]]));
      await repo.recordDuration("a", 2000, T0 + 1);
      await repo.recordDuration("a", 0, T0 + 2);
      expect((await repo.expectedDurations(["a"])).get("a")).toBeCloseTo(0.7 * (0.7 * 1000 + 0.3 * 2000), 6);
    });

    test("upsertSlave inserts, then replaces every field; listSlaves by name", async () => {
      const s1: SlaveInfo = { name: "zeta", dimensions: { os: "linux", cpu: "x86-64" }, slots: 4, version: "0.1.0", state: "idle", lastSeenAt: T0, registeredAt: T0 };
      const s2: SlaveInfo = { ...s1, name: "alpha", dimensions: {}, state: "busy" };
      await repo.upsertSlave(s1);
      await repo.upsertSlave(s2);
      expect(await repo.listSlaves()).toEqual([s2, s1]);
      const s1b: SlaveInfo = { ...s1, dimensions: { os: "mac" }, slots: 8, version: "0.2.0", state: "draining", lastSeenAt: T0 + 5, registeredAt: T0 + 4 };
      await repo.upsertSlave(s1b);
      expect(await repo.listSlaves()).toEqual([s2, s1b]);
    });

    test("createJob takes 100,000 tasks in under 10 s", async () => {
      const { job, tasks, attempts } = makeJobWithTasks("big.alice.1700000000.1", 100_000);
      const started = performance.now();
      await repo.createJob(job, tasks, attempts);
      const seconds = (performance.now() - started) / 1000;
      expect(seconds).toBeLessThan(10);
      const stored = await repo.getAttempts(job.id);
      expect(stored.length).toBe(100_000);
      expect(stored[99_999]).toEqual(attempts[99_999]!);
      expect((await repo.openAttempts()).length).toBe(100_000);
    }, 60_000);

    test.skipIf(skips.reopen !== undefined)(`a reopened repo keeps everything${skips.reopen ? ` (skipped: ${skips.reopen})` : ""}`, async () => {
      const { job, tasks, attempts } = makeJobWithTasks("keep.alice.1700000000.1", 3);
      attempts[0] = fullAttempt(tasks[0]!);
      const slave: SlaveInfo = { name: "h", dimensions: { os: "linux" }, slots: 2, version: "v", state: "lost", lastSeenAt: T0, registeredAt: T0 };
      await repo.createJob(job, tasks, attempts);
      await repo.recordDuration("k", 42, T0);
      await repo.upsertSlave(slave);
      await repo.close();
      repo = await reopen!();
      expect(await repo.getJob(job.id)).toEqual(job);
      expect(await repo.getTasks(job.id)).toEqual(tasks);
      expect(await repo.getAttempts(job.id)).toEqual(attempts);
      expect(await repo.expectedDurations(["k"])).toEqual(new Map([["k", 42]]));
      expect(await repo.listSlaves()).toEqual([slave]);
    });
  });
}

import { describe, expect, test } from "bun:test";
import { FairQueue, type QueueItem, dimensionsMatch } from "../../src/master/scheduler/fair-queue.ts";

function items(queue: FairQueue, jobId: string, user: string, n: number, extra: Partial<QueueItem> = {}): QueueItem[] {
  return Array.from({ length: n }, (_, i) => ({
    jobId, taskId: `t${i}`, attempt: 0, retry: 0, user, priority: 0, isRetry: false, expectedMs: 0, seq: queue.seq(), queuedAt: 0, dimensions: {}, caseSelection: null, ...extra,
  }));
}

describe("FairQueue", () => {
  test("a big job of one user does not starve a later small job of another", () => {
    const q = new FairQueue();
    q.put(items(q, "big", "alice", 100));
    q.put(items(q, "small", "bob", 2));
    const order = [q.take({}), q.take({}), q.take({}), q.take({})].map((i) => i?.jobId);
    // Each take goes to the user with fewer running tasks.
    expect(order).toEqual(["big", "small", "big", "small"]);
  });

  test("between jobs of one user, the job with fewer running tasks goes first", () => {
    const q = new FairQueue();
    q.put(items(q, "j1", "alice", 10));
    q.put(items(q, "j2", "alice", 10));
    const order = Array.from({ length: 4 }, () => q.take({})!.jobId);
    expect(order).toEqual(["j1", "j2", "j1", "j2"]);
  });

  test("finished tasks free the share again", () => {
    const q = new FairQueue();
    q.put(items(q, "a", "alice", 5));
    q.put(items(q, "b", "bob", 5));
    const first = q.take({})!;
    q.take({});
    q.finished(first.user, first.jobId);
    expect(q.take({})!.user).toBe(first.user);
  });

  test("weights give a user a larger share", () => {
    const q = new FairQueue((user) => (user === "ci" ? 3 : 1));
    q.put(items(q, "ci-job", "ci", 20));
    q.put(items(q, "dev-job", "dev", 20));
    const users = Array.from({ length: 8 }, () => q.take({})!.user);
    expect(users.filter((u) => u === "ci").length).toBe(6);
  });

  test("within a job: retries first, then priority, then longest expected, then age", () => {
    const q = new FairQueue();
    q.put([
      { ...items(q, "j", "u", 1)[0]!, taskId: "short-old", expectedMs: 10 },
      { ...items(q, "j", "u", 1)[0]!, taskId: "long", expectedMs: 5_000 },
      { ...items(q, "j", "u", 1)[0]!, taskId: "short-new", expectedMs: 10 },
      { ...items(q, "j", "u", 1)[0]!, taskId: "urgent", priority: 5 },
    ]);
    q.put([{ ...items(q, "j", "u", 1)[0]!, taskId: "retry", attempt: 1, isRetry: true }]);
    expect(Array.from({ length: 5 }, () => q.take({})!.taskId)).toEqual(["retry", "urgent", "long", "short-old", "short-new"]);
  });

  test("dimensions: an item goes only to a slave that has all of its dimensions", () => {
    const q = new FairQueue();
    q.put(items(q, "j", "u", 1, { dimensions: { os: "linux", gpu: "yes" } }));
    expect(q.take({ os: "linux" })).toBeUndefined();
    expect(q.take({ os: "linux", gpu: "yes", pool: "x" })?.taskId).toBe("t0");
    expect(dimensionsMatch({}, { os: "linux" })).toBe(true);
  });

  test("remove and removeJob take waiting items out", () => {
    const q = new FairQueue();
    q.put(items(q, "j", "u", 3));
    expect(q.remove("j", "t1", 0)).toBe(true);
    expect(q.remove("j", "t1", 0)).toBe(false);
    expect(q.removeJob("j").map((i) => i.taskId).sort()).toEqual(["t0", "t2"]);
    expect(q.take({})).toBeUndefined();
    expect(q.size).toBe(0);
  });

  test("100,000 items are queued and drained quickly", () => {
    const q = new FairQueue();
    const start = performance.now();
    q.put(items(q, "huge", "u", 100_000));
    let n = 0;
    while (q.take({})) n++;
    expect(n).toBe(100_000);
    expect(performance.now() - start).toBeLessThan(5_000);
  });

  test("stats count queued items per dimension set and running ones", () => {
    const q = new FairQueue();
    q.put(items(q, "j", "u", 2, { dimensions: { os: "linux" } }));
    q.put(items(q, "k", "u", 1));
    q.take({});
    const stats = q.stats();
    expect(stats.queued).toBe(2);
    expect(stats.running).toBe(1);
  });
});

describe("FairQueue's index of waiting items", () => {
  test("two attempts of one task waiting at once are each found, counted and removed", () => {
    const q = new FairQueue();
    const [first] = items(q, "j", "alice", 1);
    const [second] = items(q, "j", "alice", 1, { attempt: 1 });
    const [third] = items(q, "j", "alice", 1, { attempt: 2 });
    q.put([first!, second!]);
    expect(q.size).toBe(2);
    expect(q.remove("j", "t0", 0)).toBe(true);
    // The second is found under its own key after the first left the task id's.
    q.put([third!]);
    expect(q.size).toBe(2);
    expect(q.remove("j", "t0", 0)).toBe(false);
    expect(q.remove("j", "t0", 1)).toBe(true);
    expect([...q.waiting()]).toEqual([third!]);
    expect(q.removeJob("j")).toEqual([third!]);
    expect(q.size).toBe(0);
    expect(q.stats().queuedByDimensions).toEqual({});
  });

  test("putting the same attempt again counts it once", () => {
    const q = new FairQueue();
    const list = items(q, "j", "alice", 3);
    q.put(list);
    q.put([list[1]!]);
    expect(q.size).toBe(3);
  });

  test("putting the same attempt again counts it once, also when it waits under its own key (another attempt of its task held the task id's)", () => {
    const q = new FairQueue();
    const [first] = items(q, "j", "alice", 1);
    const [second] = items(q, "j", "alice", 1, { attempt: 1 });
    q.put([first!, second!]);
    expect(q.remove("j", "t0", 0)).toBe(true);
    q.put([second!]);
    expect(q.size).toBe(1);
    expect([...q.waiting()]).toEqual([second!]);
    expect(q.remove("j", "t0", 1)).toBe(true);
    expect(q.size).toBe(0);
    expect([...q.waiting()]).toEqual([]);
  });
});

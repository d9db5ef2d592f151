/**
 * JobPageCache (src/web/job/page-data.ts): a job's rows are kept while it
 * does not change, read again when it does, except that an expensive read
 * is spaced: rows that took 50 ms or more to read stand for five times that
 * after a change. Over a real SQLite repo whose attempt read is slowed.
 */
import { afterEach, expect, test } from "bun:test";
import type { Master } from "../../src/master/master.ts";
import type { Repo } from "../../src/master/repo/repo.ts";
import { DEFAULT_JOB_PAGE_LIMITS, JobPageCache } from "../../src/web/job/page-data.ts";
import { type MasterFixture, drive, makeMaster, submit } from "./fixture.ts";

let fx: MasterFixture | undefined;
afterEach(() => fx?.close());

/** The master as the cache sees it, its attempt reads slowed by `delayMs`; `reads` counts them. */
function slowed(master: Master, delayMs: number) {
  const counter = { reads: 0 };
  const repo = new Proxy(master.deps.repo, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== "getAttemptHeads") return typeof value === "function" ? value.bind(target) : value;
      return async (...args: unknown[]) => {
        // A read of the job is its slices from the first; the empty one that ends it is not another.
        if ((args[1] as { from: number } | undefined)?.from === 0) counter.reads++;
        await Bun.sleep(delayMs);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as Repo;
  const view = overRepo(master, repo);
  return { view, counter };
}


/** What JobPageCache uses of `master`, with the repo it reads through replaced by `repo`. */
function overRepo(master: Master, repo: Repo): Master {
  return { deps: { ...master.deps, repo }, changeVersion: (jobId: string) => master.changeVersion(jobId), reclaimer: master.reclaimer } as unknown as Master;
}
test("a cheap read is redone at every change; an expensive one stands for five times its cost after a change, then is redone", async () => {
  fx = await makeMaster();
  await submit(fx, "cheap.1", [{ description: "a" }, { description: "b" }]);
  await submit(fx, "dear.1", [{ description: "c" }, { description: "d" }]);
  const cheap = slowed(fx.master, 0);
  const cheapCache = new JobPageCache(cheap.view);
  expect((await cheapCache.get("cheap.1"))!.rowCounts.queued).toBe(2);
  await cheapCache.get("cheap.1");
  expect(cheap.counter.reads).toBe(1);
  // Both of its tasks, so the queue then holds only the other job's.
  expect((await drive(fx, "s1", () => "SUCCEEDED", { maxLeases: 2 })).map((l) => l.job_id)).toEqual(["cheap.1", "cheap.1"]);
  expect((await cheapCache.get("cheap.1"))!.rowCounts.passed).toBe(2);
  expect(cheap.counter.reads).toBe(2);

  const dear = slowed(fx.master, 80);
  const dearCache = new JobPageCache(dear.view);
  const first = (await dearCache.get("dear.1"))!;
  expect(first.readMs).toBeGreaterThanOrEqual(80);
  expect((await drive(fx, "s1", () => "SUCCEEDED", { maxLeases: 1 }))[0]!.job_id).toBe("dear.1");
  // Changed, but read a moment ago at a cost: the same rows, no read.
  expect(await dearCache.get("dear.1")).toBe(first);
  expect(dear.counter.reads).toBe(1);
  await Bun.sleep(first.readMs * 5 + 20);
  const later = (await dearCache.get("dear.1"))!;
  expect(dear.counter.reads).toBe(2);
  expect(later.rowCounts.passed).toBe(1);
  expect(later.version).not.toBe(first.version);
  expect(await dearCache.get("nobody.1")).toBeNull();
});

test("a slow read of an older version that ends after a newer one's does not replace it", async () => {
  fx = await makeMaster();
  await submit(fx, "race.1", [{ description: "a" }, { description: "b" }, { description: "c" }]);
  let delayMs = 0;
  const counter = { reads: 0 };
  const master = fx.master;
  const repo = new Proxy(master.deps.repo, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== "getAttemptHeads") return typeof value === "function" ? value.bind(target) : value;
      return async (...args: unknown[]) => {
        // The delay is taken when the read starts: the slow read stays slow after the next is made quick.
        const wait = delayMs;
        counter.reads++;
        const rows = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        await Bun.sleep(wait);
        return rows;
      };
    },
  }) as Repo;
  const cache = new JobPageCache(overRepo(master, repo));
  // A cheap job, read once: a view after a change reads again at once, even while another read of it runs.
  await cache.get("race.1");
  await drive(fx, "s1", () => "SUCCEEDED", { maxLeases: 1 });
  delayMs = 300;
  counter.reads = 0;
  const older = cache.get("race.1");
  // Let the slow read take its rows (one passed) before the job changes again.
  while (counter.reads === 0) await Bun.sleep(1);
  await drive(fx, "s1", () => "SUCCEEDED", { maxLeases: 1 });
  delayMs = 0;
  const newer = (await cache.get("race.1"))!;
  expect(newer.rowCounts.passed).toBe(2);
  // The older read ends now, after the newer: it answers with the newer rows, and they stay; a reader who saw a task pass must not see it queued again.
  expect((await older)!.version).toBe(newer.version);
  const after = (await cache.get("race.1"))!;
  expect(after.version).toBe(newer.version);
  expect(after.rowCounts.passed).toBe(2);
});

test("two reads of a job at once whose names were dropped count its names once", async () => {
  fx = await makeMaster();
  await submit(fx, "heads.1", [{ description: "a" }, { description: "b" }, { description: "c" }]);
  await submit(fx, "heads.2", [{ description: "d" }]);
  const master = fx.master;
  let delayMs = 0;
  const repo = new Proxy(master.deps.repo, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== "getTaskHeads") return typeof value === "function" ? value.bind(target) : value;
      return async (...args: unknown[]) => {
        await Bun.sleep(delayMs);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as Repo;
  const view = overRepo(master, repo);
  // Names of three tasks kept at most: reading heads.2 drops heads.1's.
  const cache = new JobPageCache(view, { ...DEFAULT_JOB_PAGE_LIMITS, heads: 3 });
  await cache.get("heads.1");
  await cache.get("heads.2");
  expect(cache["heads"].size).toBe(1);
  // heads.1 is cheap, so a view after a change reads again while the first read of its names runs.
  delayMs = 50;
  await drive(fx, "s1", () => "SUCCEEDED", { maxLeases: 1 });
  const first = cache.get("heads.1");
  await Bun.sleep(10);
  await drive(fx, "s1", () => "SUCCEEDED", { maxLeases: 1 });
  const second = cache.get("heads.1");
  expect((await first)!.tasks).toBe(3);
  expect((await second)!.tasks).toBe(3);
  // The names kept are counted as many as there are: an overcount would evict other jobs' names early, and never heal.
  expect(cache["heads"].size).toBe(3);
});

test("rows are kept up to a bound over all jobs, the least recently viewed dropped first; the newest job's always", async () => {
  fx = await makeMaster();
  await submit(fx, "small.1", [{ description: "a" }, { description: "b" }, { description: "c" }]);
  await submit(fx, "small.2", [{ description: "a" }, { description: "b" }, { description: "c" }]);
  await submit(fx, "big.1", Array.from({ length: 7 }, (_, i) => ({ description: `t${i}` })));
  const { view, counter } = slowed(fx.master, 0);
  const cache = new JobPageCache(view, { ...DEFAULT_JOB_PAGE_LIMITS, rows: 6 });
  await cache.get("small.1");
  await cache.get("small.2");
  // Six rows: both kept.
  await cache.get("small.1");
  await cache.get("small.2");
  expect(counter.reads).toBe(2);
  // Seven more: both dropped, the big job kept though it alone passes the bound.
  await cache.get("big.1");
  await cache.get("big.1");
  expect(counter.reads).toBe(3);
  await cache.get("small.1");
  expect(counter.reads).toBe(4);
  // small.1 pushed the big job out, and is kept itself.
  await cache.get("small.1");
  expect(counter.reads).toBe(4);
  await cache.get("big.1");
  expect(counter.reads).toBe(5);
});

test("while an expensive job's read runs, views of it at newer versions wait for that read instead of starting more", async () => {
  fx = await makeMaster();
  await submit(fx, "busy.1", [{ description: "a" }, { description: "b" }, { description: "c" }]);
  const { view, counter } = slowed(fx.master, 60);
  const cache = new JobPageCache(view);
  const first = (await cache.get("busy.1"))!;
  expect(counter.reads).toBe(1);
  await Bun.sleep(first.readMs * 5 + 20);
  // Past its spacing: the next view after a change reads again, and takes as long.
  await drive(fx, "s1", () => "SUCCEEDED", { maxLeases: 1 });
  const reading = cache.get("busy.1");
  // Polls of other pages open on the job come in at later versions while that read runs.
  await drive(fx, "s1", () => "SUCCEEDED", { maxLeases: 1 });
  const joined = cache.get("busy.1");
  await drive(fx, "s1", () => "SUCCEEDED", { maxLeases: 1 });
  const joinedToo = cache.get("busy.1");
  const states = await Promise.all([reading, joined, joinedToo]);
  expect(counter.reads).toBe(2);
  expect(states[1]).toBe(states[0]);
  expect(states[2]).toBe(states[0]);
});

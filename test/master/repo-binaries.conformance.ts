/**
 * Repo.binaryHistory, part of the Repo conformance suite (repo.conformance.ts
 * calls it inside each implementation's describe): a binary's runs over
 * jobs, newest first, each one job's tasks of the binary (its shards as one
 * run) with their attempts; the limit, the bound on tasks, and binaries told
 * apart exactly.
 */
import { expect, test } from "bun:test";
import type { Attempt, Job, Task } from "../../src/master/model.ts";
import type { Repo } from "../../src/master/repo/repo.ts";

const T0 = 1_700_000_000_000;
const HASH = "c".repeat(64);

type Make = {
  job: (id: string, over?: Partial<Job>) => Job;
  task: (jobId: string, index: number, over?: Partial<Task>) => Task;
  attempt: (task: Task, over?: Partial<Attempt>) => Attempt;
};

/** Adds the binary-history tests; `make` builds rows as the suite's other tests do. */
export function repoBinaryHistoryConformance(repo: () => Repo, make: Make): void {
  /** A shard of `binary` as a `shards: N` submit stores it: `<binary>.<i>`, with its shard fields. */
  const shard = (jobId: string, index: number, binary: string, i: number, n: number) =>
    make.task(jobId, index, { taskId: `${HASH}.${index}`, description: `${binary}.${i}`, shardIndex: i, shardCount: n });

  /** Stores a job of these tasks, each with a first attempt, and any more attempts given. */
  async function store(id: string, createdAt: number, tasks: Task[], more: Attempt[] = []): Promise<void> {
    await repo().createJob(make.job(id, { createdAt }), tasks, tasks.map((t) => make.attempt(t)));
    for (const a of more) await repo().insertAttempt(a);
  }

  const history = async (binary: string, limit = 10, maxTasks = 1_000) => {
    const answer = await repo().binaryHistory(binary, { limit, maxTasks });
    return {
      truncated: answer.truncated,
      runs: answer.runs.map((r) => ({ job: r.job.id, complete: r.complete, tasks: r.tasks.map((t) => [t.task.description, t.attempts.map((a) => a.attempt)]) })),
    };
  };

  test("a binary's runs over jobs, newest first: its shards one run, other binaries and look-alike descriptions apart", async () => {
    // Oldest: the binary unsharded, beside another binary.
    await store("bh.1", T0, [make.task("bh.1", 0, { description: "bin_test" }), make.task("bh.1", 1, { description: "other_test" })]);
    // Three shards, out of index order with another binary between, and a retry of shard 1.
    const shards = [shard("bh.2", 0, "bin_test", 0, 3), make.task("bh.2", 1, { description: "other_test" }), shard("bh.2", 2, "bin_test", 2, 3), shard("bh.2", 3, "bin_test", 1, 3)];
    await store("bh.2", T0 + 1_000, shards, [make.attempt(shards[3]!, { attempt: 1, retry: 1 })]);
    // Newest: no task of the binary, only look-alikes: a description that ends like a shard without being one, another case, a prefix.
    await store("bh.3", T0 + 2_000, [make.task("bh.3", 0, { description: "bin_test.0" }), make.task("bh.3", 1, { description: "Bin_test" }), make.task("bh.3", 2, { description: "bin_tes" })]);

    expect(await history("bin_test")).toEqual({
      truncated: false,
      runs: [
        { job: "bh.2", complete: true, tasks: [["bin_test.0", [0]], ["bin_test.2", [0]], ["bin_test.1", [0, 1]]] },
        { job: "bh.1", complete: true, tasks: [["bin_test", [0]]] },
      ],
    });
    expect((await history("other_test")).runs.map((r) => r.job)).toEqual(["bh.2", "bh.1"]);
    // Each look-alike is a binary of its own, matched exactly (case and all).
    for (const binary of ["bin_test.0", "Bin_test", "bin_tes"]) expect({ binary, runs: (await history(binary)).runs.map((r) => r.job) }).toEqual({ binary, runs: ["bh.3"] });
    expect(await history("bin")).toEqual({ truncated: false, runs: [] });
    expect(await history("")).toEqual({ truncated: false, runs: [] });
    // The rows are the stored ones, every field.
    const [latest] = (await repo().binaryHistory("bin_test", { limit: 1, maxTasks: 10 })).runs;
    expect(latest!.job).toEqual(make.job("bh.2", { createdAt: T0 + 1_000 }));
    expect(latest!.tasks[2]).toEqual({ task: shards[3]!, attempts: [make.attempt(shards[3]!), make.attempt(shards[3]!, { attempt: 1, retry: 1 })] });
  });

  test("the limit counts runs (jobs), not tasks; jobs created in the same millisecond come by id, descending", async () => {
    for (const [i, id] of ["lim.a", "lim.c", "lim.b"].entries()) await store(id, T0 + (i === 0 ? 0 : 5_000), [shard(id, 0, "lim_test", 0, 2), shard(id, 1, "lim_test", 1, 2)]);
    expect((await history("lim_test", 2)).runs.map((r) => [r.job, r.tasks.length])).toEqual([["lim.c", 2], ["lim.b", 2]]);
    expect((await history("lim_test", 3)).runs.map((r) => r.job)).toEqual(["lim.c", "lim.b", "lim.a"]);
    expect((await history("lim_test", 1)).runs.map((r) => r.job)).toEqual(["lim.c"]);
  });

  test("the bound on tasks: later runs that do not fit are left out whole, a first run bigger than it is cut, and the answer says so", async () => {
    for (const [i, id] of ["cap.1", "cap.2", "cap.3"].entries()) {
      const tasks = [0, 1, 2].map((s) => shard(id, s, "cap_test", s, 3));
      await store(id, T0 + i * 1_000, tasks, [make.attempt(tasks[2]!, { attempt: 1, retry: 1 })]);
    }
    const shape = async (maxTasks: number) => {
      const h = await history("cap_test", 10, maxTasks);
      return [h.truncated, h.runs.map((r) => `${r.job}:${r.tasks.length}${r.complete ? "" : " cut"}`)];
    };
    expect(await shape(9)).toEqual([false, ["cap.3:3", "cap.2:3", "cap.1:3"]]);
    expect(await shape(8)).toEqual([true, ["cap.3:3", "cap.2:3"]]);
    expect(await shape(6)).toEqual([true, ["cap.3:3", "cap.2:3"]]);
    expect(await shape(4)).toEqual([true, ["cap.3:3"]]);
    expect(await shape(2)).toEqual([true, ["cap.3:2 cut"]]);
    // A cut run carries the attempts of the tasks it holds only.
    const cut = await history("cap_test", 10, 2);
    expect(cut.runs[0]!.tasks).toEqual([["cap_test.0", [0]], ["cap_test.1", [0]]]);
    // Cut, but the only run asked for: nothing older was left out.
    expect(await history("cap_test", 1, 2)).toEqual({ truncated: false, runs: [{ job: "cap.3", complete: false, tasks: [["cap_test.0", [0]], ["cap_test.1", [0]]] }] });
  });

  test("names with SQL's wildcards, quotes and other scripts are matched as given", async () => {
    const names = ["b%", "bX", "b_", "it's \"quoted\" ✓ 测试", "b\\%"];
    for (const [i, name] of names.entries()) await store(`wild.${i}`, T0 + i, [make.task(`wild.${i}`, 0, { description: name })]);
    for (const [i, name] of names.entries()) expect({ name, runs: (await history(name)).runs.map((r) => r.job) }).toEqual({ name, runs: [`wild.${i}`] });
    expect((await history("b")).runs).toEqual([]);
  });
}

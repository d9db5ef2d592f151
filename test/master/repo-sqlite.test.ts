import { Database } from "bun:sqlite";
import { afterEach, expect, test } from "bun:test";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { sqliteMigrations } from "../../drizzle/sqlite/index.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { isDtError } from "../../src/common/errors.ts";
import { MIGRATIONS_TABLE } from "../../src/master/repo/migrate-sqlite.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";
import { TempDirs } from "../helpers/temp.ts";
import { makeJobWithTasks, repoConformance } from "./repo.conformance.ts";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

repoConformance("sqlite file", async () => {
  // A directory that does not exist yet: open creates it.
  const path = join(await temps.make("dt-repo-"), "state", "dt.db");
  return { repo: await SqliteRepo.open(path), reopen: () => SqliteRepo.open(path), cleanup: () => temps.cleanup() };
});

repoConformance("sqlite :memory:", async () => ({ repo: await SqliteRepo.open(":memory:"), cleanup: async () => {} }), {
  reopen: "an in-memory database ends with its connection",
});

const migrationRows = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return db.query(`SELECT tag, applied_at AS appliedAt FROM ${MIGRATIONS_TABLE} ORDER BY tag`).all();
  } finally {
    db.close();
  }
};

test("each migration is recorded once, and opening an existing database runs none again", async () => {
  const path = join(await temps.make("dt-repo-"), "dt.db");
  const clock = new ManualClock();
  await (await SqliteRepo.open(path, { clock })).close();
  const first = sqliteMigrations().map((m) => ({ tag: m.tag, appliedAt: clock.now() }));
  expect(first.length).toBeGreaterThan(0);
  expect(migrationRows(path)).toEqual(first);
  clock.advance(60_000);
  const repo = await SqliteRepo.open(path, { clock });
  await repo.createJob(makeJobWithTasks("again.alice.1700000000.1", 1).job, [], []);
  await repo.close();
  expect(migrationRows(path)).toEqual(first);
});

test("the embedded migrations are exactly the .sql files drizzle-kit wrote", async () => {
  const dir = join(import.meta.dir, "../../drizzle/sqlite");
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const embedded = sqliteMigrations();
  expect(embedded.map((m) => `${m.tag}.sql`)).toEqual(files);
  for (const m of embedded) expect(m.sql).toBe(await Bun.file(join(dir, `${m.tag}.sql`)).text());
});

test("a database migrated by a newer dt is refused, naming the migration", async () => {
  const path = join(await temps.make("dt-repo-"), "dt.db");
  await (await SqliteRepo.open(path)).close();
  const db = new Database(path);
  db.run(`INSERT INTO ${MIGRATIONS_TABLE} (tag, applied_at) VALUES ('9999_future', 0)`);
  db.close();
  const err = await SqliteRepo.open(path).then(() => null, (e: unknown) => e);
  expect(isDtError(err, "invalid_input")).toBe(true);
  expect((err as Error).message).toContain("9999_future");
});

test("a file database is in WAL mode", async () => {
  const path = join(await temps.make("dt-repo-"), "dt.db");
  await (await SqliteRepo.open(path)).close();
  const db = new Database(path, { readonly: true });
  expect(db.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
  db.close();
});

test("calling the outer repo inside its transaction fails at once instead of waiting forever", async () => {
  const repo = await SqliteRepo.open(":memory:");
  try {
    const err = await repo.transaction(async () => repo.getJob("x")).then(() => null, (e: unknown) => e);
    expect(isDtError(err, "internal")).toBe(true);
    expect(await repo.getJob("x")).toBeNull();
  } finally {
    await repo.close();
  }
});

test("a transaction's repo refuses work after the transaction ended", async () => {
  const repo = await SqliteRepo.open(":memory:");
  try {
    const leaked = await repo.transaction(async (tx) => tx);
    expect(isDtError(await leaked.getJob("x").then(() => null, (e: unknown) => e), "internal")).toBe(true);
  } finally {
    await repo.close();
  }
});

test("a huge createJob that yields inside its transaction keeps other callers' writes out of it: they wait, land after it, and survive its rollback", async () => {
  const path = join(await temps.make("dt-repo-tx-"), "dt.db");
  const repo = await SqliteRepo.open(path);
  const other = makeJobWithTasks("other", 1);
  await repo.createJob(other.job, other.tasks, other.attempts);
  // 20,000 tasks are several multi-row statements, with the event loop free between them; the last attempt's row makes the submit fail.
  const big = makeJobWithTasks("big", 20_000);
  const probe = new Database(path);
  probe.run("PRAGMA busy_timeout = 0");
  probe.run(`CREATE TRIGGER fail_big BEFORE INSERT ON attempts WHEN NEW.task_id = '${big.tasks.at(-1)!.taskId}' BEGIN SELECT RAISE(ABORT, 'forced failure'); END`);
  // True while some connection holds the write lock: the submit's transaction is open.
  const txOpen = () => {
    try {
      probe.run("BEGIN IMMEDIATE");
      probe.run("ROLLBACK");
      return false;
    } catch (err) {
      expect((err as Error).message).toContain("locked");
      return true;
    }
  };
  try {
    const submit = repo.createJob(big.job, big.tasks, big.attempts).then(() => "stored", (err: Error) => err.message);
    const deadline = Date.now() + 20_000;
    while (!txOpen()) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Another request's writes, issued while the transaction is open: a lease, a second job.
    let leaseSettled = false;
    const leased = repo.updateAttempt("other", other.tasks[0]!.taskId, 0, { state: "LEASED", slave: "s1", leaseId: "l1" }, ["QUEUED"]).finally(() => (leaseSettled = true));
    const second = makeJobWithTasks("second", 2);
    const submitted = repo.createJob(second.job, second.tasks, second.attempts);
    // The event loop turned while the transaction was open (the yields are real), and the lease waits behind it, not in it.
    await new Promise((resolve) => setImmediate(resolve));
    expect(txOpen()).toBe(true);
    expect(leaseSettled).toBe(false);

    expect(await submit).toContain("forced failure");
    expect(await leased).toBe(true);
    await submitted;
    // Neither SQLITE_BUSY nor a nested BEGIN, and the rollback did not take them: they ran after the transaction, on the gate.
    expect(await repo.getJob("big")).toBeNull();
    expect(await repo.getAttempts("big")).toEqual([]);
    expect((await repo.getAttempt("other", other.tasks[0]!.taskId, 0))?.state).toBe("LEASED");
    expect(await repo.getAttempts("second")).toHaveLength(2);
  } finally {
    probe.close();
    await repo.close();
  }
  // On disk, as another process reads it.
  const reopened = await SqliteRepo.open(path);
  try {
    expect(await reopened.getJob("big")).toBeNull();
    expect((await reopened.getAttempt("other", other.tasks[0]!.taskId, 0))?.state).toBe("LEASED");
    expect(await reopened.getAttempts("second")).toHaveLength(2);
  } finally {
    await reopened.close();
  }
});

test("a closed repo writes nothing: calls through its prepared statements are refused as any other call is", async () => {
  const path = join(await temps.make("dt-repo-closed-"), "dt.db");
  const repo = await SqliteRepo.open(path);
  const { job, tasks, attempts } = makeJobWithTasks("closed", 1);
  await repo.createJob(job, tasks, attempts);
  const { taskId } = tasks[0]!;
  expect(await repo.updateAttempt("closed", taskId, 0, { message: "before" })).toBe(true);
  await repo.close();
  // A heartbeat, a result or a duration arriving while the master stops: refused as any other call is, not stored by a connection left open.
  const refused = (p: Promise<unknown>) => p.then(() => "stored", () => "refused");
  expect(await refused(repo.updateAttempt("closed", taskId, 0, { state: "LEASED", slave: "s1", leaseId: "l1", message: "after" }, ["QUEUED"]))).toBe("refused");
  expect(await refused(repo.insertAttempt({ ...attempts[0]!, attempt: 1 }))).toBe("refused");
  expect(await refused(repo.recordDuration("k", 100, 1))).toBe("refused");
  expect(await refused(repo.transaction(async () => 1))).toBe("refused");
  const db = new Database(path, { readonly: true });
  try {
    expect(db.query("SELECT state, message FROM attempts ORDER BY attempt").all()).toEqual([{ state: "QUEUED", message: "before" }]);
    expect(db.query("SELECT count(*) AS n FROM durations").get()).toEqual({ n: 0 });
  } finally {
    db.close();
  }
});

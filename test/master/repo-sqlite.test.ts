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

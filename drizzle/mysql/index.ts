/// <reference path="../sqlite/sql.d.ts" />
/**
 * The MySQL/MariaDB migrations, embedded as drizzle/sqlite/index.ts embeds
 * the SQLite ones: a text import puts each .sql file into the binary.
 *
 * After `bun run db:generate:mysql` writes a new NNNN_name.sql, add its
 * import and its entry below; mysqlMigrations() refuses to run while the
 * journal names a migration that is not here.
 */
import { embeddedMigrations } from "../../src/master/repo/embedded-migrations.ts";
import type { Migration } from "../../src/master/repo/migrate-sqlite.ts";
import journal from "./meta/_journal.json" with { type: "json" };
import m0000 from "./0000_init.sql" with { type: "text" };
import m0001 from "./0001_outputs_and_cases.sql" with { type: "text" };
import m0002 from "./0002_task_result_globs.sql" with { type: "text" };
import m0003 from "./0003_case_scheduling.sql" with { type: "text" };
import m0004 from "./0004_quarantine.sql" with { type: "text" };
import m0005 from "./0005_reuse.sql" with { type: "text" };
import m0006 from "./0006_binary_tasks.sql" with { type: "text" };

const SQL_BY_TAG: Readonly<Record<string, string>> = {
  "0000_init": m0000,
  "0001_outputs_and_cases": m0001,
  "0002_task_result_globs": m0002,
  "0003_case_scheduling": m0003,
  "0004_quarantine": m0004,
  "0005_reuse": m0005,
  "0006_binary_tasks": m0006,
};

/** Every migration in the journal's order, with its SQL. */
export function mysqlMigrations(): Migration[] {
  return embeddedMigrations(journal, SQL_BY_TAG, "drizzle/mysql/index.ts");
}

/// <reference path="../sqlite/sql.d.ts" />
/**
 * The MySQL/MariaDB migrations, embedded as drizzle/sqlite/index.ts embeds
 * the SQLite ones: a text import puts each .sql file into the binary.
 *
 * After `bun run db:generate:mysql` writes a new NNNN_name.sql, add its
 * import and its entry below; mysqlMigrations() refuses to run while the
 * journal names a migration that is not here.
 */
import { DtError } from "../../src/common/errors.ts";
import type { Migration } from "../../src/master/repo/migrate-sqlite.ts";
import journal from "./meta/_journal.json" with { type: "json" };
import m0000 from "./0000_init.sql" with { type: "text" };

const SQL_BY_TAG: Readonly<Record<string, string>> = {
  "0000_init": m0000,
};

/** Every migration in the journal's order, with its SQL. */
export function mysqlMigrations(): Migration[] {
  const entries = [...journal.entries].sort((a, b) => a.idx - b.idx);
  const missing = entries.filter((e) => SQL_BY_TAG[e.tag] === undefined).map((e) => e.tag);
  const extra = Object.keys(SQL_BY_TAG).filter((tag) => !entries.some((e) => e.tag === tag));
  if (missing.length > 0 || extra.length > 0) {
    throw new DtError("internal", `drizzle/mysql/index.ts is out of step with meta/_journal.json: missing ${missing.join(", ") || "none"}, not in the journal ${extra.join(", ") || "none"}`);
  }
  return entries.map((e) => ({ tag: e.tag, sql: SQL_BY_TAG[e.tag]! }));
}

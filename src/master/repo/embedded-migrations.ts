import { DtError } from "../../common/errors.ts";
import type { Migration } from "./migrate-sqlite.ts";

/** drizzle-kit's meta/_journal.json, as far as it is read here. */
export interface Journal {
  entries: readonly { idx: number; tag: string }[];
}

/**
 * Every migration in the journal's order, with its SQL from the text
 * imports of a dialect's drizzle/<dialect>/index.ts. Refuses to run while
 * the two disagree: a migration generated but not imported would be left
 * out of the binary.
 */
export function embeddedMigrations(journal: Journal, sqlByTag: Readonly<Record<string, string>>, where: string): Migration[] {
  const entries = [...journal.entries].sort((a, b) => a.idx - b.idx);
  const missing = entries.filter((e) => sqlByTag[e.tag] === undefined).map((e) => e.tag);
  const extra = Object.keys(sqlByTag).filter((tag) => !entries.some((e) => e.tag === tag));
  if (missing.length > 0 || extra.length > 0) {
    throw new DtError("internal", `${where} is out of step with meta/_journal.json: missing ${missing.join(", ") || "none"}, not in the journal ${extra.join(", ") || "none"}`);
  }
  return entries.map((e) => ({ tag: e.tag, sql: sqlByTag[e.tag]! }));
}

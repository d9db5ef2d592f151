/**
 * A test quarantine entry and what "active" means for one. Pure, shared by
 * both Repo dialects, the report-time verdict and the API.
 */
import type { CaseName } from "../cases/case-filter.ts";
import type { QuarantineRow } from "../repo/schema-sqlite.ts";

/** One entry: a test (binary optional: null matches the case in any binary), why, by whom, until when. */
export type QuarantineEntry = QuarantineRow;

/** What an add stores; the id and removal are the store's. */
export type NewQuarantineEntry = Omit<QuarantineEntry, "id" | "removedAt" | "removedBy">;

/** created_by of the entries the master adds itself (`dt master --auto-quarantine`). */
export const AUTO_QUARANTINE_USER = "auto";

/**
 * Active at `at`: not removed by then and not past its `until`. Expiry needs
 * no sweeper: an entry past `until` is simply not active any more.
 */
export function isActive(entry: Pick<QuarantineEntry, "removedAt" | "until">, at: number): boolean {
  return (entry.removedAt === null || entry.removedAt > at) && (entry.until === null || entry.until > at);
}

/**
 * The entry among `entries` that covers a case of `binary`, or undefined:
 * the same suite and name, and the same binary unless the entry names none.
 * An entry naming the binary wins over one that does not (its reason is the
 * more specific).
 */
export function entryFor(entries: readonly QuarantineEntry[], binary: string, suite: string, name: string): QuarantineEntry | undefined {
  let any: QuarantineEntry | undefined;
  for (const e of entries) {
    if (e.suite !== suite || e.name !== name) continue;
    if (e.binary === binary) return e;
    if (e.binary === null) any ??= e;
  }
  return any;
}

/**
 * A predicate over one binary's cases: whether an entry among `entries`
 * (the active ones, read once) covers it. For callers deciding per case,
 * such as a retry that runs only the failed cases and may leave out the
 * quarantined ones.
 *
 * @example const quarantined = quarantinedIn(await repo.listQuarantine({ activeAt: now, limit: MAX_ACTIVE_ENTRIES }), "foo_test");
 *          quarantined({ suite: "MathTest", name: "FailsOnPurpose" }) // true when an entry covers it
 */
export function quarantinedIn(entries: readonly QuarantineEntry[], binary: string): (c: CaseName) => boolean {
  return (c) => entryFor(entries, binary, c.suite, c.name) !== undefined;
}

/**
 * Adding, removing and listing quarantine entries: what the API and the
 * master's auto-quarantine share over the Repo.
 */
import type { Clock } from "../../common/clock.ts";
import { DtError } from "../../common/errors.ts";
import type { Logger } from "../../common/log.ts";
import type { QuarantineView } from "../protocol.ts";
import type { Repo } from "../repo/repo.ts";
import { type NewQuarantineEntry, type QuarantineEntry, isActive } from "./entry.ts";
import type { ValidQuarantineRequest } from "./request.ts";
import { MAX_ACTIVE_ENTRIES } from "./verdict.ts";

/** Entries a listing of all (removed and expired included) returns: the newest. */
export const MAX_LISTED_ENTRIES = 1_000;

export interface QuarantineDeps {
  repo: Repo;
  clock: Clock;
  log: Logger;
}

export function quarantineView(e: QuarantineEntry, now: number): QuarantineView {
  return {
    id: e.id, binary: e.binary, suite: e.suite, name: e.name, reason: e.reason, created_at: e.createdAt, created_by: e.createdBy,
    until: e.until, removed_at: e.removedAt, removed_by: e.removedBy, active: isActive(e, now),
  };
}

/** The active entry for exactly this test (same binary or both none), if any. */
async function activeTwin(repo: Repo, entry: Pick<NewQuarantineEntry, "binary" | "suite" | "name">, now: number): Promise<QuarantineEntry | undefined> {
  const active = await repo.listQuarantine({ activeAt: now, limit: MAX_ACTIVE_ENTRIES });
  return active.find((e) => e.suite === entry.suite && e.name === entry.name && e.binary === entry.binary);
}

/** An operator's add; refused while the same test has an active entry (remove it first, or it would hide which reason counts). */
export async function addQuarantine(deps: QuarantineDeps, request: ValidQuarantineRequest): Promise<QuarantineEntry> {
  const now = deps.clock.now();
  const twin = await activeTwin(deps.repo, request, now);
  if (twin) throw new DtError("invalid_input", `${testName(request)} is quarantined already (entry ${twin.id}: ${twin.reason}); remove entry ${twin.id} first to change it`);
  const user = request.user ?? "unknown";
  const entry = await deps.repo.addQuarantine({
    binary: request.binary, suite: request.suite, name: request.name, reason: request.reason ?? `quarantined by ${user}`,
    createdAt: now, createdBy: user, until: request.until,
  });
  deps.log.info(`quarantine entry ${entry.id}: ${testName(entry)} by ${user}${entry.until === null ? "" : ` until ${new Date(entry.until).toISOString()}`}: ${entry.reason}`, { quarantine_id: entry.id });
  return entry;
}

/** Ends an entry now; the row stays. Throws not_found for an unknown id. */
export async function removeQuarantine(deps: QuarantineDeps, id: number, user: string): Promise<QuarantineEntry> {
  const entry = await deps.repo.removeQuarantine(id, deps.clock.now(), user);
  if (!entry) throw new DtError("not_found", `no quarantine entry ${id}; dt quarantine list --all shows them`);
  deps.log.info(`quarantine entry ${id} (${testName(entry)}) removed by ${entry.removedBy ?? user}`, { quarantine_id: id });
  return entry;
}

/** `[binary ›] suite.name`, as logs and errors name a quarantined test. */
export function testName(e: Pick<NewQuarantineEntry, "binary" | "suite" | "name">): string {
  return `${e.binary === null ? "" : `${e.binary} › `}${e.suite}.${e.name}`;
}

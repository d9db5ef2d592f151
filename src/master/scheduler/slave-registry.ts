import { DtError } from "../../common/errors.ts";
import type { InfraFailureView, SlaveCommand, SlaveIdentity } from "../protocol.ts";
import { dimensionsMatch } from "./fair-queue.ts";

/** Held slaves a NO_RESOURCE message names, and characters of each reason: enough to act on, short enough for the attempt's message. */
const HOLDS_NAMED = 5;
const HOLD_REASON_CHARS = 200;
/**
 * Characters of a task's dimensions (as JSON) a NO_RESOURCE message shows.
 * A job may give 32 dimensions of 256-character keys and values; written
 * out whole (control characters escaped six-fold) they made a message past
 * MySQL's 64 KiB TEXT column, and the sweep failed on it at every pass.
 */
const DIMENSIONS_SHOWN_CHARS = 1_000;

/** Infrastructure failures kept per slave: enough to see a pattern on the slaves view, few enough to show in one row. */
const INFRA_FAILURES_KEPT = 10;

/** One slave as the master knows it. */
export interface SlaveRecord {
  /** As the slave last described itself: dimensions, slots, version, drain and hold. */
  identity: SlaveIdentity;
  registeredAt: number;
  /** The slave's last call (lease, heartbeat, result). */
  lastSeenAt: number;
  /** A lease of it lapsed since its last call. */
  lost: boolean;
  /** An operator's instruction the slave has not reported done yet. */
  pending: SlaveCommand | null;
  infraFailures: InfraFailureView[];
}

/**
 * The slaves the master has heard from, with when and in what state. A
 * slave counts as live while it has called (lease, heartbeat) within
 * `liveForMs` and no lease of it has lapsed since. Everything here comes
 * from the slaves' own calls, so a restarted master rebuilds it within one
 * heartbeat; an operator's drain or quarantine is carried to the slave by
 * its next call's answer and lives on in the slave's own `hold` from then.
 */
export class SlaveRegistry {
  private readonly slaves = new Map<string, SlaveRecord>();

  constructor(private readonly liveForMs: number) {}

  /** A call from the slave; returns the instruction to send back, if one is still pending. */
  seen(identity: SlaveIdentity, now: number): SlaveCommand | null {
    // Updated in place: every call of every slave comes here (a fleet of 10,000 makes hundreds a second), and the record is all it changes.
    let record = this.slaves.get(identity.name);
    if (record) {
      record.identity = identity;
      record.lastSeenAt = now;
      record.lost = false;
    } else {
      record = { identity, registeredAt: now, lastSeenAt: now, lost: false, pending: null, infraFailures: [] };
      this.slaves.set(identity.name, record);
    }
    if (record.pending && acknowledged(record.pending, identity)) record.pending = null;
    return record.pending;
  }

  /** An operator's instruction for a known slave; it goes out with the answer to the slave's next call. */
  command(name: string, command: SlaveCommand): SlaveRecord {
    const known = this.slaves.get(name);
    if (!known) throw new DtError("not_found", `no slave ${JSON.stringify(name)} has called this master; dt slaves lists the known ones`);
    known.pending = acknowledged(command, known.identity) ? null : command;
    return known;
  }

  /** True when the slave must not be handed work: it drains or is held, or an instruction to hold it is on its way. */
  holds(name: string): boolean {
    const s = this.slaves.get(name);
    return s !== undefined && !takesWork(s);
  }

  /** A slave whose lease lapsed: lost at once, until it calls again. */
  markLost(name: string): void {
    const known = this.slaves.get(name);
    if (known) known.lost = true;
  }

  /** An attempt on the slave ended INFRA_FAILED or SLAVE_LOST. */
  infraFailure(name: string, failure: InfraFailureView): void {
    const known = this.slaves.get(name);
    if (!known) return;
    known.infraFailures = [failure, ...known.infraFailures].slice(0, INFRA_FAILURES_KEPT);
  }

  get(name: string): SlaveRecord | undefined {
    return this.slaves.get(name);
  }

  /** Every known slave, by name. */
  list(): SlaveRecord[] {
    return [...this.slaves.values()].sort((a, b) => (a.identity.name < b.identity.name ? -1 : a.identity.name > b.identity.name ? 1 : 0));
  }

  isLive(slave: SlaveRecord, now: number): boolean {
    return !slave.lost && now - slave.lastSeenAt <= this.liveForMs;
  }

  /** True when some live slave that takes work has all of `dimensions`. */
  canRun(dimensions: Record<string, string>, now: number): boolean {
    for (const s of this.slaves.values()) {
      if (takesWork(s) && this.isLive(s, now) && dimensionsMatch(dimensions, s.identity.dimensions)) return true;
    }
    return false;
  }

  /**
   * Why no slave runs work of `dimensions` (written `dimensionsKey`), for a
   * task that ends NO_RESOURCE: the live slaves that have the dimensions but
   * are held (quarantined, draining, an instruction pending), by name and
   * reason; or that no live slave has them at all.
   */
  whyNoneCanRun(dimensions: Record<string, string>, dimensionsKey: string, now: number): string {
    const held = this.list().filter((s) => this.isLive(s, now) && !takesWork(s) && dimensionsMatch(dimensions, s.identity.dimensions));
    if (dimensionsKey.length > DIMENSIONS_SHOWN_CHARS) dimensionsKey = `${dimensionsKey.slice(0, DIMENSIONS_SHOWN_CHARS)}…`;
    if (held.length === 0) return `no live slave has the dimensions ${dimensionsKey}`;
    const named = held.slice(0, HOLDS_NAMED).map((s) => `${s.identity.name} (${holdOf(s).slice(0, HOLD_REASON_CHARS)})`);
    const more = held.length > HOLDS_NAMED ? ` and ${held.length - HOLDS_NAMED} more` : "";
    return `every live slave with the dimensions ${dimensionsKey} is held: ${named.join("; ")}${more}`;
  }

  /** Slots of the live slaves that take work; with `dimensions`, of those that have all of them. */
  liveSlots(now: number, dimensions?: Record<string, string>): number {
    let slots = 0;
    for (const s of this.slaves.values()) {
      if (takesWork(s) && this.isLive(s, now) && (!dimensions || dimensionsMatch(dimensions, s.identity.dimensions))) slots += s.identity.slots;
    }
    return slots;
  }
}

/** What keeps a slave from taking work, in words: its hold, its drain, or an instruction on its way. */
function holdOf(s: SlaveRecord): string {
  const { hold, draining } = s.identity;
  if (hold) return `${hold.kind === "drain" ? "draining" : "quarantined"} by ${hold.by === "self" ? "itself" : "an operator"}: ${hold.reason}`;
  if (draining) return "draining: shutting down";
  return s.pending ? `${s.pending.action} requested: ${s.pending.reason}` : "taking no work";
}

function takesWork(s: SlaveRecord): boolean {
  return !s.identity.draining && !s.identity.hold && (s.pending === null || s.pending.action === "resume");
}

/** The slave's own description shows the instruction carried out. */
function acknowledged(command: SlaveCommand, identity: SlaveIdentity): boolean {
  const hold = identity.hold;
  if (command.action === "resume") return hold === undefined;
  return hold !== undefined && hold.by === "operator" && hold.kind === command.action;
}

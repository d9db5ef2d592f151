import type { SlaveState, SlaveView } from "../master/protocol.ts";

/** A start asked of the provider whose slave has not registered with the master yet. */
export interface PendingStart {
  /** Epoch ms of the ask. */
  at: number;
  /** The slave's name when the provider chose it (local); unnamed for a cloud group, whose instances name themselves. */
  name?: string;
}

/**
 * What the autoscaler remembers between ticks: plain JSON, so `--state`
 * can keep it in a file across `--once` runs.
 */
export interface FleetMemory {
  pending: PendingStart[];
  /** Slaves this autoscaler drains in order to stop them: name → epoch ms of the drain. */
  removing: Record<string, number>;
  /**
   * Slaves handed to the provider to stop: name → epoch ms. The master
   * lists a slave as live for a while after it went; these are not counted
   * meanwhile. One still live a boot grace later was not stopped (a plain
   * resize, where the cloud picks the instances that go, removed others).
   */
  released: Record<string, number>;
  /** Managed slave → epoch ms it was last seen running something (or first seen): its idle time counts from here. */
  lastBusyAt: Record<string, number>;
  /** Names of the managed slaves the master knew at the last look (lost ones included); null before the first look. A name not among them is a newly registered slave. */
  known: string[] | null;
  /**
   * Slaves the master listed before and lists no more: name → epoch ms it
   * first did not. The master never forgets a slave while it runs (it marks
   * it lost), so this is a restarted master that has not heard from them
   * yet; they are counted for a boot grace rather than replaced.
   */
  missing: Record<string, number>;
  /** The key of the last hold reported: an unchanged hold is not reported again. */
  lastHoldKey: string | null;
}

export function emptyMemory(): FleetMemory {
  return { pending: [], removing: {}, released: {}, lastBusyAt: {}, known: null, missing: {}, lastHoldKey: null };
}

/** One managed slave as a decision sees it. */
export interface ManagedSlave {
  name: string;
  state: SlaveState;
  slots: number;
  /** Attempts it holds now, as the master counts them. */
  running: number;
  /** Epoch ms since which it has run nothing. */
  idleSince: number;
  /** It is handed work: idle or busy, with no drain or quarantine on its way. */
  takesWork: boolean;
  /** This autoscaler drains it in order to stop it. */
  removing: boolean;
  /** It takes no more work (its drain is acknowledged or on its way, or it is held) and runs nothing: safe to stop. */
  drained: boolean;
}

/** The managed fleet at one look. */
export interface Fleet {
  /** Live managed slaves (a lost slave runs nothing and counts for nothing). */
  slaves: ManagedSlave[];
  /** Starts still within their boot grace. */
  pending: PendingStart[];
  /** Slaves a restarted master does not list yet (see FleetMemory.missing), within a boot grace: counted as up. */
  missing: string[];
  /** Slaves being removed that the master no longer shows live (stopped, crashed, or deleted by the cloud): to stop and forget. */
  gone: string[];
  /** Slaves being removed that take work again (the master lost the drain, e.g. it restarted): to drain again. */
  undrained: string[];
  /** Released slaves still live a boot grace after their stop: not stopped after all. */
  survivors: string[];
}

/** What one look found besides the fleet, for the log. */
export interface Observation {
  fleet: Fleet;
  memory: FleetMemory;
  /** Starts that did not register within the boot grace: no longer counted. */
  expired: PendingStart[];
  /** Named starts whose process is gone before it registered. */
  failed: PendingStart[];
}

/**
 * Reads the master's view of the managed slaves against what the
 * autoscaler remembers: settles pending starts by the slaves that
 * registered since (by name, or for unnamed starts by newly seen names,
 * oldest start first), expires those past `bootTimeoutMs`, moves each
 * slave's idle clock, leaves out slaves handed to the provider to stop
 * while the master still lists them, and counts slaves a restarted master
 * has not heard from yet. `members`, when the provider knows its slaves
 * (local processes), limits the fleet to them. Pure: memory in, memory out.
 */
export function observeFleet(
  memory: FleetMemory,
  managed: readonly SlaveView[],
  now: number,
  options: { bootTimeoutMs: number; members?: ReadonlySet<string> },
): Observation {
  const { members } = options;
  const up = managed.filter((s) => s.state !== "lost" && (!members || members.has(s.name)));
  // Released slaves are on their way out: not counted while the master still lists them, survivors once the boot grace is over.
  const released: Record<string, number> = {};
  const survivors: string[] = [];
  for (const s of up) {
    const at = memory.released[s.name];
    if (at === undefined) continue;
    if (now - at > options.bootTimeoutMs) survivors.push(s.name);
    else released[s.name] = at;
  }
  const live = up.filter((s) => !(s.name in released) && !survivors.includes(s.name));
  const liveNames = new Set(live.map((s) => s.name));
  const fresh = memory.known === null ? [] : up.filter((s) => !memory.known!.includes(s.name)).map((s) => s.name);

  const expired: PendingStart[] = [];
  const failed: PendingStart[] = [];
  let unclaimed = fresh.length;
  const pending: PendingStart[] = [];
  for (const start of [...memory.pending].sort((a, b) => a.at - b.at)) {
    if (start.name !== undefined && liveNames.has(start.name)) continue;
    if (start.name === undefined && unclaimed > 0) {
      unclaimed--;
      continue;
    }
    if (start.name !== undefined && members && !members.has(start.name)) failed.push(start);
    else if (now - start.at > options.bootTimeoutMs) expired.push(start);
    else pending.push(start);
  }

  const lastBusyAt: Record<string, number> = {};
  const slaves: ManagedSlave[] = live.map((s) => {
    const busy = s.running.length > 0 || s.state === "busy";
    const since = busy ? now : (memory.lastBusyAt[s.name] ?? now);
    lastBusyAt[s.name] = since;
    const removing = s.name in memory.removing;
    const stopsTaking = s.state === "draining" || s.state === "quarantined" || s.pending_command?.action === "drain";
    const takesWork = (s.state === "idle" || s.state === "busy") && (s.pending_command === null || s.pending_command.action === "resume");
    return { name: s.name, state: s.state, slots: s.slots, running: s.running.length, idleSince: since, takesWork, removing, drained: stopsTaking && s.running.length === 0 };
  });

  const gone = Object.keys(memory.removing).filter((name) => !liveNames.has(name));

  const listed = new Set(managed.map((s) => s.name));
  const missing: Record<string, number> = {};
  for (const name of [...(memory.known ?? []), ...Object.keys(memory.missing ?? {})]) {
    if (listed.has(name) || name in memory.removing || name in memory.released || (members && !members.has(name))) continue;
    const since = memory.missing?.[name] ?? now;
    if (now - since <= options.bootTimeoutMs) missing[name] = since;
  }
  const undrained = live
    .filter((s) => s.name in memory.removing && (s.state === "idle" || s.state === "busy") && s.pending_command?.action !== "drain")
    .map((s) => s.name);

  return {
    fleet: { slaves, pending, missing: Object.keys(missing), gone, undrained, survivors },
    memory: { ...memory, pending, released, lastBusyAt, missing, known: [...listed, ...Object.keys(missing)] },
    expired,
    failed,
  };
}

import { formatSpan } from "./format.ts";
import type { AutoscaleDecision } from "../master/protocol.ts";
import { type MatchedDemand, expectedWorkMs } from "./demand.ts";
import type { Fleet, ManagedSlave } from "./fleet.ts";
import type { AutoscalePolicy } from "./policy.ts";

/**
 * One tick's decision and what carrying it out takes. `from` and `to`
 * count the slaves the autoscaler keeps (live, pending starts and held
 * slaves, not those it removes); a shrink counts machines, those being
 * removed included, so "drain 2 → 0" is followed by "shrink 2 → 0".
 */
export interface Plan {
  action: AutoscaleDecision["action"];
  from: number;
  to: number;
  reason: string;
  /** The kind of reason, without its numbers: a hold is reported again only when this changes. */
  key: string;
  /** New slaves to start. */
  start: number;
  /** Slaves being removed to take back instead: cheaper than booting new ones. */
  resume: string[];
  /** Idle slaves to drain (then stop at a later tick). */
  drain: string[];
  /** Drained slaves, or removed ones gone from the master, to stop through the provider. */
  stop: string[];
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/**
 * The autoscaler's rule, as a pure function of what it sees (`now` is the
 * injected clock's time):
 *
 * - **Grow** to --min; and while the expected queued work (duration history,
 *   `defaultTaskMs` per task without history) needs more slaves than there
 *   are (live or starting) to be done within `targetMs`:
 *   needed = ceil(work / (target × slots per slave)). Never more new slaves
 *   than queued tasks left over by the free slots (each new slave must have
 *   one), never past --max. Slaves being removed are taken back first.
 * - **Stop** slaves being removed once the master shows them drained with
 *   nothing running (a slave that took a task just before its drain
 *   finishes it first).
 * - **Drain** slaves idle for `idleLagMs` while nothing they could run is
 *   queued, longest idle first, down to --min. A busy slave is never chosen.
 * - **Hold** otherwise, saying why.
 */
export function decide(policy: AutoscalePolicy, fleet: Fleet, demand: MatchedDemand, now: number): Plan {
  const working = fleet.slaves.filter((s) => !s.removing && s.takesWork);
  const held = fleet.slaves.filter((s) => !s.removing && !s.takesWork);
  const removing = fleet.slaves.filter((s) => s.removing);
  // Starting: asked for and not registered yet, or not listed yet by a master that restarted.
  const starting = fleet.pending.length + fleet.missing.length;
  const size = working.length + held.length + starting;
  const capacity = working.length + starting;
  const slots = policy.slotsPerSlave ?? Math.max(1, ...fleet.slaves.map((s) => s.slots));
  const plan = (action: Plan["action"], to: number, reason: string, key: string, parts: Partial<Plan> = {}): Plan => ({
    action, from: size, to, reason, key, start: 0, resume: [], drain: [], stop: [], ...parts,
  });
  // Slaves being removed come back before new ones start: they are up and their caches are warm.
  const grow = (count: number, reason: string, key: string): Plan => {
    const resume = removing.slice(0, count).map((s) => s.name);
    const start = count - resume.length;
    const how = [start > 0 ? `starting ${start}` : "", resume.length > 0 ? `taking back ${resume.join(", ")} from draining` : ""].filter(Boolean).join(", ");
    return plan("grow", size + count, `${reason}; ${how}`, key, { start, resume });
  };

  // 1. Grow: to the minimum, then for the queued work.
  if (size < policy.min) return grow(policy.min - size, `${plural(size, "slave")}, below --min ${policy.min}`, "min");
  const work = expectedWorkMs(demand, policy.defaultTaskMs);
  const needed = demand.queuedTasks === 0 ? 0 : Math.ceil(work / (policy.targetMs * slots));
  const freeSlots = working.reduce((n, s) => n + Math.max(0, s.slots - s.running), 0) + starting * slots;
  const workText = `${plural(demand.queuedTasks, "queued task")}, about ${formatSpan(work)} of work${demand.unknownTasks > 0 ? ` (${demand.unknownTasks} without history, assumed ${formatSpan(policy.defaultTaskMs)} each)` : ""}`;
  const neededText = `${plural(needed, "slave")} × ${plural(slots, "slot")} finish it within ${formatSpan(policy.targetMs)}`;
  let queueHold: Plan | undefined;
  if (needed > capacity) {
    const room = policy.max - size;
    const forTasks = demand.queuedTasks - freeSlots;
    const count = Math.min(needed - capacity, forTasks, room);
    if (count > 0) {
      const limit = count === room && room < needed - capacity ? ` (--max ${policy.max})` : count === forTasks && forTasks < needed - capacity ? " (one per queued task)" : "";
      return grow(count, `${workText}: ${neededText}, there ${capacity === 1 ? "is" : "are"} ${capacity}${limit}`, "demand");
    }
    queueHold = forTasks <= 0
      ? plan("hold", size, `${workText}: they fit the ${plural(freeSlots, "free slot")} of the slaves up or starting`, "free-slots")
      : plan("hold", size, `${workText}: ${neededText}, but --max ${policy.max} is reached`, "at-max");
  }

  // 2. Stop what has drained, and what is gone from the master.
  const drained = removing.filter((s) => s.drained).map((s) => s.name);
  const stop = [...drained, ...fleet.gone];
  if (stop.length > 0) {
    const what = [drained.length > 0 ? `${drained.join(", ")} drained with nothing running` : "", fleet.gone.length > 0 ? `${fleet.gone.join(", ")} no longer live on the master` : ""].filter(Boolean).join("; ");
    // Counted as machines: the stopped ones were still up, and so are the others being removed.
    const alive = size + removing.length + fleet.gone.length;
    return { ...plan("shrink", alive - stop.length, `${what}: stopping`, "stop", { stop }), from: alive };
  }

  // 3. Drain slaves idle past the lag, when nothing they could run is queued.
  const idle = working.filter((s) => s.state === "idle" && s.running === 0);
  const pastLag = idle.filter((s) => now - s.idleSince >= policy.idleLagMs).sort(longestIdleFirst);
  if (demand.queuedTasks === 0 && pastLag.length > 0) {
    const count = Math.min(pastLag.length, size - policy.min);
    if (count > 0) {
      const chosen = pastLag.slice(0, count).map((s) => s.name);
      const kept = count < pastLag.length ? ` (--min ${policy.min} keeps ${pastLag.length - count})` : "";
      return plan("drain", size - count, `${plural(pastLag.length, "slave")} idle for ${formatSpan(policy.idleLagMs)} or more and nothing queued for them: draining ${chosen.join(", ")}${kept}`, "drain", { drain: chosen });
    }
  }

  // 4. Hold, and say why.
  if (queueHold) return queueHold;
  if (demand.queuedTasks > 0) return plan("hold", size, `${workText}: ${neededText}, there ${capacity === 1 ? "is" : "are"} ${capacity}`, "within-target");
  const stillRunning = removing.filter((s) => !s.drained);
  if (stillRunning.length > 0) {
    const tasks = stillRunning.reduce((n, s) => n + s.running, 0);
    return plan("hold", size, `waiting for ${stillRunning.map((s) => s.name).join(", ")} to finish ${plural(tasks, "running task")} before stopping`, "draining");
  }
  const others = demand.otherTasks > 0 ? ` (${plural(demand.otherTasks, "queued task")} ask for dimensions these slaves lack)` : "";
  if (pastLag.length > 0) return plan("hold", size, `${plural(pastLag.length, "slave")} idle past --idle-lag, but --min ${policy.min} keeps them${others}`, "at-min");
  if (idle.length > 0) {
    const first = [...idle].sort(longestIdleFirst)[0]!;
    const left = policy.idleLagMs - (now - first.idleSince);
    return plan("hold", size, `nothing queued for them${others}; ${plural(idle.length, "idle slave")}, the longest idle reaches --idle-lag ${formatSpan(policy.idleLagMs)} in ${formatSpan(left)}`, "idle-lag");
  }
  if (working.length > 0) return plan("hold", size, `nothing queued for them${others}; ${plural(working.length, "slave")} busy`, "busy");
  return plan("hold", size, `nothing queued for these slaves${others}; ${plural(size, "slave")}${starting > 0 ? `, ${starting} starting` : ""}`, "idle");
}

function longestIdleFirst(a: ManagedSlave, b: ManagedSlave): number {
  return a.idleSince - b.idleSince || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

import { dimensionsMatch } from "../master/scheduler/fair-queue.ts";
import type { QueueDemand } from "../master/protocol.ts";

/** The part of the master's queue that the managed slaves can run. */
export interface MatchedDemand {
  queuedTasks: number;
  knownWorkMs: number;
  unknownTasks: number;
  /** Queued tasks no managed slave could run (they ask for dimensions the managed slaves lack): left to other fleets. */
  otherTasks: number;
}

/**
 * Sums the dimension sets of `demand` that a slave with `slaveDimensions`
 * satisfies (every dimension a task asks for, the slave has), as the
 * master's scheduler matches them.
 *
 * @example matchDemand(demand, { os: "linux", pool: "ci" }).queuedTasks
 */
export function matchDemand(demand: QueueDemand, slaveDimensions: Record<string, string>): MatchedDemand {
  const matched: MatchedDemand = { queuedTasks: 0, knownWorkMs: 0, unknownTasks: 0, otherTasks: 0 };
  for (const set of demand.by_dimensions) {
    if (!dimensionsMatch(set.dimensions, slaveDimensions)) {
      matched.otherTasks += set.queued_tasks;
      continue;
    }
    matched.queuedTasks += set.queued_tasks;
    matched.knownWorkMs += set.queued_known_work_ms;
    matched.unknownTasks += set.queued_unknown_tasks;
  }
  return matched;
}

/** Expected milliseconds of queued work: history where there is some, `defaultTaskMs` per task where there is none. */
export function expectedWorkMs(demand: MatchedDemand, defaultTaskMs: number): number {
  return demand.knownWorkMs + demand.unknownTasks * defaultTaskMs;
}

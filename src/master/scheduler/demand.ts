import type { QueueDemand } from "../protocol.ts";
import type { QueueItem } from "./fair-queue.ts";
import type { Dispatcher } from "./dispatcher.ts";

/**
 * What is queued, by the dimension set each task asks for, with the work it
 * is expected to take from duration history: what an autoscaler sizes the
 * fleet by. Offers waiting in beanstalkd count as queued (no slave has
 * claimed them); running counts what slaves hold.
 */
export function queueDemand(dispatcher: Dispatcher): QueueDemand {
  const sets = new Map<string, QueueDemand["by_dimensions"][number]>();
  const add = (item: QueueItem) => {
    const key = dispatcher.queue.dimensionsKeyOf(item);
    let set = sets.get(key);
    if (!set) sets.set(key, (set = { key, dimensions: item.dimensions, queued_tasks: 0, queued_known_work_ms: 0, queued_unknown_tasks: 0 }));
    set.queued_tasks++;
    if (item.expectedMs > 0) set.queued_known_work_ms += item.expectedMs;
    else set.queued_unknown_tasks++;
  };
  for (const item of dispatcher.queue.waiting()) add(item);
  for (const offer of dispatcher.feeder?.waiting() ?? []) add(offer.item);
  const by = [...sets.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return {
    queued_tasks: by.reduce((n, s) => n + s.queued_tasks, 0),
    queued_known_work_ms: by.reduce((n, s) => n + s.queued_known_work_ms, 0),
    queued_unknown_tasks: by.reduce((n, s) => n + s.queued_unknown_tasks, 0),
    running_tasks: dispatcher.activeLeases,
    by_dimensions: by,
  };
}

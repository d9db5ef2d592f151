import type { SlaveView } from "../master/protocol.ts";

/**
 * Where slaves come from and go to: processes on this host (`local`), or a
 * cloud group resized by the operator's commands (`exec`). The autoscaler
 * decides; a provider only carries out, and says which of the master's
 * slaves are its own.
 */
export interface SlaveProvider {
  /** "local" or "exec", for the decisions' `autoscaler` field and the logs. */
  readonly kind: string;
  /** True when the master's slave belongs to this fleet. */
  manages(slave: SlaveView): boolean;
  /** The slaves the provider runs now, when it knows them by name (local processes); undefined for a cloud group. */
  members(): ReadonlySet<string> | undefined;
  /**
   * Starts `count` more slaves; `total` is the fleet's size once they run
   * (what a cloud group is resized to). Returns the names given to them,
   * or undefined when the slaves name themselves.
   */
  start(count: number, total: number): Promise<string[] | undefined>;
  /**
   * Stops these drained slaves; `total` is the fleet's size after. Returns
   * the names stopped (or handed to the cloud) and, when some could not
   * be, why; fails when none was.
   */
  stop(names: readonly string[], total: number): Promise<StopResult>;
  /** True when stop() removes the very slaves named; false when the cloud picks which go (a plain resize). */
  readonly removesByName: boolean;
  /** The autoscaler stops: local drains and stops its processes (its children); exec leaves the fleet as it is. */
  close(): Promise<void>;
}

export interface StopResult {
  stopped: string[];
  /** Why the others in the request were not stopped. */
  error?: Error;
}

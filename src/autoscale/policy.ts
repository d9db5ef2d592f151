/**
 * What `dt autoscale` aims for: the bounds of the fleet and the numbers the
 * growth and shrink rules read. Every duration is in milliseconds.
 */
export interface AutoscalePolicy {
  /** Slaves kept even when nothing is queued (pending starts count). */
  min: number;
  /** Slaves never exceeded, pending starts and held slaves included: the bill's ceiling. */
  max: number;
  /** Tasks one slave runs at once; undefined: as the managed slaves report it (1 until one has registered). */
  slotsPerSlave: number | undefined;
  /** The queued work should be done within this long: it sizes the fleet. */
  targetMs: number;
  /** What a queued task with no duration history is assumed to take. */
  defaultTaskMs: number;
  /** A slave idle this long, with nothing queued for it, is drained and stopped. */
  idleLagMs: number;
  /** A start asked for counts towards the fleet this long while its slave has not registered with the master. */
  bootTimeoutMs: number;
  /** The dimensions of the managed slaves: only demand they can run (task dimensions ⊆ these) counts. */
  dimensions: Record<string, string>;
}

/** Ten seconds: dist_test's gce-autoscale.py looked this often, and a master answers two small GETs in milliseconds. */
export const DEFAULT_INTERVAL_MS = 10_000;
/** Five minutes: a CI job's tests should take about that on a fleet grown for them. */
export const DEFAULT_TARGET_MS = 5 * 60_000;
/** A minute: a guess for a test never run before; the first run teaches the master its real duration. */
export const DEFAULT_TASK_MS = 60_000;
/** Ten minutes, as gce-autoscale.py waited: cloud machines are billed by the minute with a ten-minute minimum (GCE) or by the second with a one-minute minimum (AWS), and a slave kept a little longer is cheaper than booting another. */
export const DEFAULT_IDLE_LAG_MS = 600_000;
/** A VM boots, installs and starts `dt slave` within about ten minutes; a process on this host within a minute. */
export const DEFAULT_BOOT_TIMEOUT_MS = { exec: 600_000, local: 60_000 } as const;

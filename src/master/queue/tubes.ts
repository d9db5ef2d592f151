import { DtError } from "../../common/errors.ts";
import { dimensionsMatch } from "../scheduler/fair-queue.ts";

/**
 * How dimension sets map onto beanstalkd tubes: one tube per set, named so
 * that a slave can read the set back from `list-tubes` and watch exactly the
 * tubes whose tasks it can run. Tube names allow only letters, digits and
 * `-+/;.$_()`, so the set is written as base64 of its sorted JSON (whose
 * alphabet fits); the empty set, which every slave can run, is `<prefix>.any`.
 */

/** beanstalkd refuses longer tube names. */
const MAX_TUBE_BYTES = 200;

function sortedEntries(dims: Record<string, string>): [string, string][] {
  return Object.entries(dims).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function anyTube(prefix: string): string {
  return `${prefix}.any`;
}

/** The tube for tasks needing exactly `dims`. */
export function tubeFor(prefix: string, dims: Record<string, string>): string {
  const entries = sortedEntries(dims);
  if (entries.length === 0) return anyTube(prefix);
  const name = `${prefix}.d.${Buffer.from(JSON.stringify(entries)).toString("base64").replace(/=+$/, "")}`;
  if (Buffer.byteLength(name) > MAX_TUBE_BYTES) {
    throw new DtError("invalid_input", `dimensions ${JSON.stringify(dims)} are too long to name a beanstalkd tube (${Buffer.byteLength(name)} of ${MAX_TUBE_BYTES} bytes); use shorter dimension names and values`);
  }
  return name;
}

/** The dimension set a tube of this prefix stands for; null for any other tube. */
export function dimensionsOfTube(prefix: string, tube: string): Record<string, string> | null {
  if (tube === anyTube(prefix)) return {};
  const head = `${prefix}.d.`;
  if (!tube.startsWith(head)) return null;
  try {
    const entries: unknown = JSON.parse(Buffer.from(tube.slice(head.length), "base64").toString());
    if (!Array.isArray(entries)) return null;
    const dims: Record<string, string> = {};
    for (const e of entries) {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== "string" || typeof e[1] !== "string") return null;
      dims[e[0]] = e[1];
    }
    return dims;
  } catch {
    return null;
  }
}

/** Of `tubes`, those a slave with `slaveDims` can serve, the any-tube always among them. */
export function tubesForSlave(prefix: string, tubes: readonly string[], slaveDims: Record<string, string>): string[] {
  const chosen = new Set([anyTube(prefix)]);
  for (const tube of tubes) {
    const dims = dimensionsOfTube(prefix, tube);
    if (dims && dimensionsMatch(dims, slaveDims)) chosen.add(tube);
  }
  return [...chosen];
}

/**
 * A beanstalkd priority (0 first, 2^32-1 last) carrying the scheduler's
 * order within a tube: retries before first attempts, then higher task
 * priority, then longer expected duration. Fair share between users is kept
 * by what the master feeds, not by this number.
 */
export function beanstalkPriority(item: { isRetry: boolean; priority: number; expectedMs: number }): number {
  const priority = Math.max(-511, Math.min(511, Math.trunc(item.priority)));
  const expectedSec = Math.max(0, Math.min(2 ** 21 - 1, Math.round(item.expectedMs / 1000)));
  return (item.isRetry ? 0 : 2 ** 31) + (511 - priority) * 2 ** 21 + (2 ** 21 - 1 - expectedSec);
}

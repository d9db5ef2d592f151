/**
 * "Did you mean" for names a user typed: flags, subcommands, JSON keys.
 * Compared without case, dashes or underscores, so `--outputDir` finds
 * `--output-dir` and `Timout` finds `timeout`.
 */

/**
 * Edit distance counting an insertion, a deletion, a substitution or a swap
 * of two neighbours as one edit (optimal string alignment): `wiat` is one
 * edit from `wait`, as a typist sees it.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

const folded = (s: string) => s.toLowerCase().replace(/[-_]/g, "");

/**
 * The candidate `input` most likely meant, or undefined when none is close:
 * within 2 edits (1 for inputs of 4 characters or fewer, where 2 edits reach
 * unrelated words), or the only candidate that `input` (3 characters or more)
 * begins.
 *
 * @example closestMatch("timout", ["timeout", "env"]) === "timeout"
 * @example closestMatch("slave", ["slaves", "slots"]) === "slaves"
 */
export function closestMatch(input: string, candidates: Iterable<string>): string | undefined {
  const typed = folded(input);
  if (typed === "") return undefined;
  const limit = typed.length <= 4 ? 1 : 2;
  let best: { name: string; distance: number } | undefined;
  const prefixed: string[] = [];
  for (const name of candidates) {
    const other = folded(name);
    if (typed.length >= 3 && other.startsWith(typed)) prefixed.push(name);
    // A length difference beyond the limit cannot be within it; skip the work.
    if (Math.abs(other.length - typed.length) > limit) continue;
    const distance = editDistance(typed, other);
    if (distance <= limit && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name ?? (prefixed.length === 1 ? prefixed[0] : undefined);
}

import { readFileSync } from "node:fs";

/**
 * Waits until `condition` holds, checking every few milliseconds, and fails
 * with `what` once `deadlineMs` has passed: for events that have no
 * notification (a killed process disappearing from the process table).
 */
export async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, deadlineMs = 5_000): Promise<void> {
  const deadline = performance.now() + deadlineMs;
  // Short enough that a test does not idle; the deadline, not the interval, decides failure.
  const pollMs = 10;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await Bun.sleep(pollMs);
  }
}

/**
 * True while `pid` names a process that can still run. A zombie (killed,
 * not yet reaped by its new parent) counts as gone: it runs no code and
 * holds no files.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 3, after the parenthesized command name (which may itself hold spaces).
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false; // reaped between the two checks
  }
}

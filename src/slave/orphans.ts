import { type ProcessInfo, bootId, environmentValue, isSameProcess, listProcesses } from "./proc-table.ts";
import { type GroupRecord, RUN_ID_ENV } from "./run-ledger.ts";

/**
 * How long the processes of a previous life get to disappear after SIGKILL,
 * ms. SIGKILL takes effect at once unless a process is in an uninterruptible
 * wait (a hung NFS read); 10 s covers a loaded machine, and past it the
 * slave starts anyway and names what is left.
 */
export const ORPHAN_KILL_DEADLINE_MS = 10_000;

export interface OrphanKillOptions {
  deadlineMs?: number;
  /** Between looks at the process table while waiting for the killed to go, ms. */
  pollMs?: number;
  /** The process table; listProcesses() (all of /proc) but in tests. */
  processes?: () => ProcessInfo[];
}

export interface OrphanKillResult {
  /** Pids that were SIGKILLed. */
  killed: number[];
  /** Pids still there at the deadline. */
  survivors: number[];
}

/**
 * Ends what the commands of a slave's previous life left running, with
 * SIGKILL: their work was lost with the slave and the master runs it again
 * elsewhere, so a copy still running only competes with it.
 *
 * A process counts as the previous life's when
 * - its process group or session is a recorded one whose leader is still
 *   the very process the slave started (same pid and start time): a group
 *   whose leader's pid has been reused since is someone else's; or
 * - its environment carries a recorded run id (RUN_ID_ENV): this finds what
 *   left the group and session (setsid, daemons), and what was left after
 *   the leader exited.
 * A process that both cleared its environment and outlived its group's
 * leader, or left the session, is not found: only a cgroup holds those (the
 * systemd unit's KillMode=mixed kills them when the slave dies).
 */
export async function killOrphans(records: GroupRecord[], options: OrphanKillOptions = {}): Promise<OrphanKillResult> {
  const boot = bootId();
  const current = records.filter((r) => r.boot_id !== null && r.boot_id === boot);
  if (current.length === 0) return { killed: [], survivors: [] };
  const processes = options.processes ?? listProcesses;
  const deadline = performance.now() + (options.deadlineMs ?? ORPHAN_KILL_DEADLINE_MS);
  const runIds = new Set(current.map((r) => r.run_id));
  const killed = new Map<number, number>(); // pid → start time
  for (;;) {
    const table = processes();
    const groups = new Set(current.flatMap((r) => (r.pgid !== null && r.start_time !== null && isSameProcess(r.pgid, r.start_time) ? [r.pgid] : [])));
    const targets = table.filter((p) => p.pid !== process.pid && p.state !== "Z" && !killed.has(p.pid) && owned(p, groups, runIds));
    const waiting = [...killed].filter(([pid, start]) => isSameProcess(pid, start));
    if (targets.length === 0 && waiting.length === 0) return { killed: [...killed.keys()], survivors: [] };
    if (performance.now() > deadline) return { killed: [...killed.keys()], survivors: [...waiting.map(([pid]) => pid), ...targets.map((p) => p.pid)] };
    // The whole group at once: a member forked since the table was read is in it too.
    for (const pgid of groups) signal(-pgid);
    for (const p of targets) {
      // The table is a moment old: the pid must still be the process that was judged.
      if (isSameProcess(p.pid, p.startTime)) signal(p.pid);
      killed.set(p.pid, p.startTime);
    }
    await Bun.sleep(options.pollMs ?? 20);
  }
}

function owned(p: ProcessInfo, groups: Set<number>, runIds: Set<string>): boolean {
  if (groups.has(p.pgid) || groups.has(p.sid)) return true;
  const runId = environmentValue(p.pid, RUN_ID_ENV);
  return runId !== undefined && runIds.has(runId);
}

function signal(target: number): void {
  try {
    process.kill(target, "SIGKILL");
  } catch {
    // Gone already, or not ours to signal (EPERM: it changed its user).
  }
}

import { type ProcessInfo, bootId, environmentValue, isSameProcess, listProcesses, readProcess, selfAndAncestors, workingDirectory } from "./proc-table.ts";
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
 *   the leader exited; or
 * - its group or session is a recorded one whose leader has exited and
 *   whose id names no process now, and its working directory is in the
 *   slave's directory (`workDir`): what was left after the leader exited,
 *   with its environment cleared. (While anything is in group N, the kernel
 *   does not give pid N to a new process; but once the group emptied, N may
 *   have been reused and made a stranger's group, which may outlive its
 *   leader too, so a leaderless group alone is no proof; and a group whose
 *   id is a live stranger's pid is the stranger's.)
 * A process that cleared its environment and also left the session, or
 * left the run directory after its leader exited, is not found: only a
 * cgroup holds those (the systemd unit's KillMode=mixed kills them when
 * the slave dies).
 */
export async function killOrphans(records: GroupRecord[], workDir: string, options: OrphanKillOptions = {}): Promise<OrphanKillResult> {
  const boot = bootId();
  const current = records.filter((r) => r.boot_id !== null && r.boot_id === boot);
  if (current.length === 0) return { killed: [], survivors: [] };
  const processes = options.processes ?? listProcesses;
  const deadline = performance.now() + (options.deadlineMs ?? ORPHAN_KILL_DEADLINE_MS);
  const runIds = new Set(current.map((r) => r.run_id));
  const killed = new Map<number, number>(); // pid → start time
  // Started from inside a recorded group, or by a process carrying a recorded run id (a task that restarts its own
  // slave): the rest of the previous life is still killed, but never this slave or what it runs under.
  const spared = selfAndAncestors();
  // A group one of those is in is signalled member by member instead, the spared left out.
  const sparedGroups = new Set([...spared].map((pid) => readProcess(pid)?.pgid));
  for (;;) {
    const table = processes();
    const { groups, leaderless } = classifyGroups(current);
    const targets = table.filter((p) => !spared.has(p.pid) && p.state !== "Z" && !killed.has(p.pid) && owned(p, { groups, leaderless, runIds, workDir }));
    const waiting = [...killed].filter(([pid, start]) => isSameProcess(pid, start));
    if (targets.length === 0 && waiting.length === 0) return { killed: [...killed.keys()], survivors: [] };
    if (performance.now() > deadline) return { killed: [...killed.keys()], survivors: [...waiting.map(([pid]) => pid), ...targets.map((p) => p.pid)] };
    // The whole group at once: a member forked since the table was read is in it too.
    for (const pgid of groups) if (!sparedGroups.has(pgid)) signal(-pgid);
    for (const p of targets) {
      // The table is a moment old: the pid must still be the process that was judged.
      if (isSameProcess(p.pid, p.startTime)) signal(p.pid);
      killed.set(p.pid, p.startTime);
    }
    await Bun.sleep(options.pollMs ?? 20);
  }
}

/**
 * Sorts the recorded groups by what their id names now. Ours: the leader is
 * still the process the slave started (a zombie too: while it is unreaped
 * its pid, and so its group's id, cannot be reused). Leaderless: no process
 * has the id now. A group whose id is now another live process's is
 * neither: the kernel gave that pid out only once nothing was left in group
 * N, so whatever is in group N now joined the stranger's group.
 */
function classifyGroups(records: GroupRecord[]): { groups: Set<number>; leaderless: Set<number> } {
  const groups = new Set<number>();
  const leaderless = new Set<number>();
  for (const r of records) {
    if (r.pgid === null) continue;
    const leader = readProcess(r.pgid);
    if (leader === null) leaderless.add(r.pgid);
    else if (r.start_time !== null && leader.startTime === r.start_time) groups.add(r.pgid);
    // Start time never read (no /proc then): whether the id was reused cannot be told, so only the working directory decides.
    else if (r.start_time === null) leaderless.add(r.pgid);
  }
  return { groups, leaderless };
}

interface Evidence {
  /** Recorded groups whose leader is the process the slave started. */
  groups: Set<number>;
  /** Recorded groups whose id names no process now (or whose leader's start was never read). */
  leaderless: Set<number>;
  runIds: Set<string>;
  workDir: string;
}

function owned(p: ProcessInfo, e: Evidence): boolean {
  if (e.groups.has(p.pgid) || e.groups.has(p.sid)) return true;
  const runId = environmentValue(p.pid, RUN_ID_ENV);
  if (runId !== undefined && e.runIds.has(runId)) return true;
  if (!e.leaderless.has(p.pgid) && !e.leaderless.has(p.sid)) return false;
  // "<dir> (deleted)" when the run directory was removed under it: still within.
  const cwd = workingDirectory(p.pid);
  return cwd !== null && (cwd === e.workDir || cwd.startsWith(`${e.workDir}/`));
}

function signal(target: number): void {
  try {
    process.kill(target, "SIGKILL");
  } catch {
    // Gone already, or not ours to signal (EPERM: it changed its user).
  }
}

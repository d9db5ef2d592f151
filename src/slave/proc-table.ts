import { readFileSync, readdirSync, readlinkSync } from "node:fs";

/**
 * What a slave needs to know about a process to decide whether it is one it
 * started: Linux's /proc/<pid>/stat fields, read without spawning `ps`.
 */
export interface ProcessInfo {
  pid: number;
  /** Parent's pid: 0 for the kernel's own, and a subreaper's or init's once the parent died. */
  ppid: number;
  /** Process group id: a task's command leads its own group (execute spawns it with setsid). */
  pgid: number;
  /** Session id: the same as the group's at first; only setsid in a descendant changes it. */
  sid: number;
  /**
   * Clock ticks after boot at which the process started (field 22). A pid
   * and its start time name one process for the life of the boot: a reused
   * pid has a later start time.
   */
  startTime: number;
  /** R, S, D, Z, …; a zombie (Z) runs no code and holds no files. */
  state: string;
}

/**
 * Parses the text of /proc/<pid>/stat. The command name (field 2) is in
 * parentheses and may itself hold spaces and parentheses, so the fields are
 * counted from the last ")". Null for text that is not a stat line.
 */
export function parseStat(text: string): ProcessInfo | null {
  const open = text.indexOf(" (");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open));
  // After ") ": state (field 3), ppid (4), pgrp (5), session (6), … starttime (22).
  const fields = text.slice(close + 2).trim().split(" ");
  const [state, ppid, pgid, sid] = fields;
  const startTime = Number(fields[19]);
  if (!Number.isInteger(pid) || !state || ![ppid, pgid, sid].every((f) => f !== undefined && f !== "" && Number.isInteger(Number(f))) || !Number.isInteger(startTime)) return null;
  return { pid, ppid: Number(ppid), pgid: Number(pgid), sid: Number(sid), startTime, state };
}

/** The process `pid` as /proc shows it now, or null when there is none (or no /proc). */
export function readProcess(pid: number): ProcessInfo | null {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return null;
  }
}

/** Every process /proc lists now; those that end while it is read are left out. */
export function listProcesses(): ProcessInfo[] {
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return [];
  }
  const all: ProcessInfo[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const info = readProcess(Number(name));
    if (info) all.push(info);
  }
  return all;
}

/**
 * The value of `variable` in the environment `pid` was started with, or
 * undefined (not set, or not readable: another user's process, or one that
 * ended). Only this user's processes can be read, which is all a slave may
 * signal anyway.
 */
export function environmentValue(pid: number, variable: string): string | undefined {
  let environ: string;
  try {
    environ = readFileSync(`/proc/${pid}/environ`, "latin1");
  } catch {
    return undefined;
  }
  const prefix = `${variable}=`;
  for (const entry of environ.split("\0")) if (entry.startsWith(prefix)) return entry.slice(prefix.length);
  return undefined;
}

/** The working directory of `pid`, or null when it cannot be read (another user's process, or one that ended). */
export function workingDirectory(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return null;
  }
}

/**
 * The kernel's id for this boot. Start times count from boot, so a record
 * from another boot names no process of this one. Null without /proc.
 */
export function bootId(): string | null {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return null;
  }
}

/**
 * This process and its ancestors, init (pid 1) included, by pid: whatever a
 * record says, a slave never kills those. (Killing a pid namespace's init
 * ends the whole container.)
 */
export function selfAndAncestors(): Set<number> {
  const chain = new Set<number>([process.pid, 1]);
  let info = readProcess(process.pid);
  // Bounded: a ppid loop cannot happen, but a table read mid-change is not worth trusting.
  while (info && info.ppid > 1 && !chain.has(info.ppid) && chain.size < 4096) {
    chain.add(info.ppid);
    info = readProcess(info.ppid);
  }
  return chain;
}

/** True while `pid` is the very process that started at `startTime` and is not a zombie. */
export function isSameProcess(pid: number, startTime: number): boolean {
  const info = readProcess(pid);
  return info !== null && info.startTime === startTime && info.state !== "Z";
}

import { randomUUID } from "node:crypto";
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../common/log.ts";
import { bootId, readProcess } from "./proc-table.ts";
import { readRecordFile } from "./record-file.ts";

/**
 * Set in every task's environment to its run id: a process that leaves the
 * task's process group and session (setsid, a daemon) still carries it, so
 * a restarted slave can find it by its environment.
 */
export const RUN_ID_ENV = "DT_SLAVE_RUN_ID";

/** One command a slave started, as it wrote it down: enough for its next life to find and end what is left. */
export interface GroupRecord {
  /** Random per attempt; the value of RUN_ID_ENV in the command's environment. */
  run_id: string;
  lease_id: string;
  task_id: string;
  /** The boot the pids and start times below belong to. */
  boot_id: string | null;
  /** The command's pid, which is its process group's and session's id; null until it is spawned. */
  pgid: number | null;
  /** The group leader's start time (ProcessInfo.startTime): a pid reused since has another. */
  start_time: number | null;
}

/**
 * The slave's record of the commands it is running, one small file per
 * attempt: written before the command is spawned, completed with its
 * process group once it is, removed once the command and its group are
 * gone. Nothing reads it while the slave lives; a slave that was SIGKILLed
 * leaves it for its next life (see openSlaveDir).
 */
export class RunLedger {
  private readonly bootId = bootId();

  constructor(
    readonly dir: string,
    private readonly log: Logger,
    private readonly newRunId: () => string = randomUUID,
  ) {}

  /** Writes the attempt's record before its command starts. Throws when it cannot (disk full): the attempt then fails as the slave's. */
  open(lease: { lease_id: string; task_id: string }): LedgerEntry {
    mkdirSync(this.dir, { recursive: true });
    const record: GroupRecord = { run_id: this.newRunId(), lease_id: lease.lease_id, task_id: lease.task_id, boot_id: this.bootId, pgid: null, start_time: null };
    const entry = new LedgerEntry(join(this.dir, `${record.run_id}.json`), record, this.log);
    entry.write();
    return entry;
  }

  /** The records in the directory; files that are not records (a write cut short) are named apart. */
  read(): { records: GroupRecord[]; unreadable: string[] } {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return { records: [], unreadable: [] };
    }
    const records: GroupRecord[] = [];
    const unreadable: string[] = [];
    for (const name of names) {
      const path = join(this.dir, name);
      const record = name.endsWith(".json") ? parseRecord(path) : null;
      if (record) records.push(record);
      else unreadable.push(path);
    }
    return { records, unreadable };
  }

  /** Removes every record: the processes they name are gone. */
  clear(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One attempt's record in the ledger. */
export class LedgerEntry {
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly record: GroupRecord,
    private readonly log: Logger,
  ) {}

  get runId(): string {
    return this.record.run_id;
  }

  /**
   * Adds the command's process group. Called right after the spawn, from
   * inside execute, so it never throws: a record left without its group is
   * still found by the run id in the environment.
   */
  spawned(pid: number): void {
    this.record.pgid = pid;
    // Read at once: the leader may be gone in a moment, and its group with it.
    this.record.start_time = readProcess(pid)?.startTime ?? null;
    try {
      this.write();
    } catch (err) {
      this.log.warn(`cannot record process group ${pid} in ${this.path}: ${(err as Error).message}; a restart after a crash finds it only by ${RUN_ID_ENV}`, { lease_id: this.record.lease_id });
    }
  }

  /** Removes the record: the command ended and execute killed its group. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    rmSync(this.path, { force: true });
  }

  /** Whole or not at all: written beside, then renamed over. */
  write(): void {
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.record));
    renameSync(tmp, this.path);
  }
}

function parseRecord(path: string): GroupRecord | null {
  const text = readRecordFile(path);
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const r = value as Partial<GroupRecord> | null;
  // Above 1: kill(-1) signals every process the user may signal, and -0 the caller's own group.
  const optionalInt = (v: unknown) => v === null || (Number.isInteger(v) && (v as number) > 1);
  if (!r || typeof r.run_id !== "string" || r.run_id === "" || typeof r.lease_id !== "string" || typeof r.task_id !== "string") return null;
  if (!(r.boot_id === null || typeof r.boot_id === "string") || !optionalInt(r.pgid) || !(r.start_time === null || Number.isInteger(r.start_time))) return null;
  return r as GroupRecord;
}

import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DtError } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import { removeTree } from "../isolate/run/map.ts";
import { type OrphanKillOptions, killOrphans } from "./orphans.ts";
import { bootId, isSameProcess, readProcess } from "./proc-table.ts";
import { readRecordFile } from "./record-file.ts";
import { RunLedger } from "./run-ledger.ts";

/** In a slave's directory: which process owns it now. */
const OWNER_FILE = "owner.json";
/** In a slave's directory: the run ledger. */
const LEDGER_DIR = "groups";

/** The slave process that owns a slave directory. */
interface Owner {
  pid: number;
  start_time: number | null;
  boot_id: string | null;
}

export interface SlaveDir {
  /** `<rootDir>/slave-<name>`: where this slave makes its run and log directories. */
  dir: string;
  /** Where the slave records the process groups it spawns. */
  ledger: RunLedger;
  /** What the previous life left, and what became of it. */
  previous: { killed: number[]; survivors: number[]; removedDirs: number };
}

/**
 * The directory name of the slave called `name` under its root dir. Names
 * are unique per master, so slaves sharing a root dir (instances of
 * dt-slave@, `dt local`'s slaves) each get their own. A name that is not a
 * plain file name is spelled safely, with a hash so that two such names
 * stay apart.
 */
export function slaveDirName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 100);
  if (safe === name && name !== "") return `slave-${name}`;
  return `slave-${safe}-${createHash("sha256").update(name).digest("hex").slice(0, 8)}`;
}

/**
 * Takes the slave's own directory under `rootDir` and ends its previous
 * life there, before the slave takes any work: the process groups its
 * commands left running (a slave that was SIGKILLed does not stop them) are
 * killed, and the run and log directories they had are removed. Only this
 * slave's directory is touched; a sibling sharing the root dir and the
 * cache keeps its work.
 *
 * Refuses when a live slave of the same name owns the directory (two slaves
 * with one name would kill each other's work on every restart). Two started
 * at the same instant may both pass this check; give each its own name.
 */
export async function openSlaveDir(options: { rootDir: string; name: string; log: Logger; kill?: OrphanKillOptions }): Promise<SlaveDir> {
  const { log, name } = options;
  mkdirSync(join(options.rootDir, slaveDirName(name)), { recursive: true });
  // Resolved, as /proc shows working directories: they are compared with it.
  const dir = realpathSync(join(options.rootDir, slaveDirName(name)));
  claim(dir, name);

  const ledger = new RunLedger(join(dir, LEDGER_DIR), log);
  const { records, unreadable } = ledger.read();
  for (const path of unreadable) log.warn(`ignoring ${path}: not a process record (a write cut short by the crash?)`, { slave: name });
  if (records.length > 0 && bootId() === null) log.warn(`slave ${name}: ${records.length} commands of its previous life may still run; without /proc (Linux) they cannot be found, so they are not killed`, { slave: name });
  const { killed, survivors } = await killOrphans(records, dir, options.kill);
  if (killed.length > 0) log.warn(`slave ${name}: killed ${killed.length} processes left running by its previous life (${records.length} commands): pids ${listed(killed)}`, { slave: name });
  if (survivors.length > 0) log.error(`slave ${name}: processes of its previous life still run after SIGKILL (uninterruptible?): pids ${listed(survivors)}`, { slave: name });
  ledger.clear();

  // Run and log directories of the previous life: none is in use, as this slave has taken no work yet.
  let removedDirs = 0;
  for (const entry of readdirSync(dir)) {
    if (entry === OWNER_FILE) continue;
    try {
      removeTree(join(dir, entry));
      removedDirs++;
    } catch (err) {
      log.warn(`cannot remove ${join(dir, entry)}, left by the previous life of slave ${name}: ${(err as Error).message}`, { slave: name });
    }
  }
  if (removedDirs > 0) log.info(`slave ${name}: removed ${removedDirs} run and log directories left in ${dir} by its previous life`, { slave: name });
  return { dir, ledger, previous: { killed, survivors, removedDirs } };
}

/** Writes this process down as the directory's owner, unless a live slave already is. */
function claim(dir: string, name: string): void {
  const path = join(dir, OWNER_FILE);
  const boot = bootId();
  const owner = readOwner(path);
  if (owner && owner.pid !== process.pid && owner.boot_id === boot && owner.start_time !== null && isSameProcess(owner.pid, owner.start_time)) {
    throw new DtError(
      "invalid_input",
      `a slave named ${JSON.stringify(name)} already runs on this host (pid ${owner.pid}) and owns ${dir}; stop it, or give this slave another --name`,
    );
  }
  const mine: Owner = { pid: process.pid, start_time: readProcess(process.pid)?.startTime ?? null, boot_id: boot };
  // Made afresh ("wx"): a symlink or FIFO left under that fixed name would have the write go through it.
  rmSync(`${path}.tmp`, { force: true });
  writeFileSync(`${path}.tmp`, JSON.stringify(mine), { flag: "wx" });
  renameSync(`${path}.tmp`, path);
}

/** Enough pids to look one up, not a screenful: a fork bomb leaves thousands. */
function listed(pids: number[]): string {
  const shown = 20;
  return pids.length <= shown ? pids.join(", ") : `${pids.slice(0, shown).join(", ")} and ${pids.length - shown} more`;
}

function readOwner(path: string): Owner | null {
  try {
    const text = readRecordFile(path);
    const owner = text === null ? null : (JSON.parse(text) as Partial<Owner> | null);
    if (owner && Number.isInteger(owner.pid) && (owner.start_time === null || Number.isInteger(owner.start_time))) return owner as Owner;
  } catch {
    // Absent, or cut short: no owner.
  }
  return null;
}

import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DtError } from "../../common/errors.ts";
import type { TreeFile } from "./tree.ts";

/**
 * A file modified within this window of being hashed may be modified again
 * within the same mtime tick, leaving size, mtime and inode unchanged ("racy
 * git"); such files are hashed but not remembered.
 */
const RACY_WINDOW_NS = 2_000_000_000n;

/**
 * Remembers each file's SHA-256 keyed by (path, size, mtime, inode), so an
 * unchanged tree is re-archived from `lstat` alone (isolate.py kept the same
 * in `.isolated.state`). One SQLite file shared by all archives of a user;
 * WAL and a busy timeout let concurrent archives share it.
 */
export class HashCache {
  private readonly lookupStmt;
  private readonly upsertStmt;
  private pending: [string, number, string, string, string][] = [];

  private constructor(private readonly db: Database) {
    this.lookupStmt = db.query<{ size: number; mtime_ns: string; ino: string; hash: string }, [string]>(
      "SELECT size, mtime_ns, ino, hash FROM hashes WHERE path = ?",
    );
    this.upsertStmt = db.query(
      "INSERT INTO hashes (path, size, mtime_ns, ino, hash) VALUES (?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, ino = excluded.ino, hash = excluded.hash",
    );
  }

  static open(path: string): HashCache {
    try {
      mkdirSync(dirname(path), { recursive: true });
      const db = new Database(path, { create: true });
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA busy_timeout = 10000");
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec("CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns TEXT NOT NULL, ino TEXT NOT NULL, hash TEXT NOT NULL)");
      return new HashCache(db);
    } catch (err) {
      throw new DtError("invalid_input", `cannot open the hash cache ${path}: ${(err as Error).message}; pass --hash-cache with a writable path`, { cause: err });
    }
  }

  /** The remembered hash if the file is unchanged since it was hashed. */
  lookup(file: TreeFile): string | undefined {
    const row = this.lookupStmt.get(file.abs);
    if (!row || row.size !== file.size || row.mtime_ns !== String(file.mtimeNs) || row.ino !== String(file.ino)) return undefined;
    return row.hash;
  }

  /** Remembers a hash computed at `hashedAtNs` (epoch ns); written on `flush`. */
  record(file: TreeFile, hash: string, hashedAtNs: bigint): void {
    if (file.mtimeNs > hashedAtNs - RACY_WINDOW_NS) return;
    this.pending.push([file.abs, file.size, String(file.mtimeNs), String(file.ino), hash]);
  }

  flush(): void {
    const rows = this.pending;
    this.pending = [];
    this.db.transaction(() => {
      for (const row of rows) this.upsertStmt.run(...row);
    })();
  }

  /**
   * Saves what was recorded and closes. Never throws: the cache only saves
   * work, so a failure to save (disk full, a lock held too long) is returned
   * for the caller to warn about instead of failing the archive.
   */
  close(): string | undefined {
    try {
      this.flush();
      return undefined;
    } catch (err) {
      return `the hash cache could not be saved (${(err as Error).message}); the next archive hashes these files again`;
    } finally {
      this.db.close();
    }
  }
}

import { renameSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { mkdir, open, readdir, rm, stat, unlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../../common/clock.ts";
import { DtError, errnoCode } from "../../common/errors.ts";
import { EMPTY_DIGEST, type Digest, checkBytesMatch, formatDigest, isHash, verifyingStream } from "../digest.ts";
import { checkWritableDir } from "../../common/metrics/readiness.ts";
import type { BlobRead, BlobStore, BlobStoreStats, ByteRange, TrimPolicy } from "./blob-store.ts";

interface IndexEntry {
  size: number;
  lastUseMs: number;
  /** The last use written to the file's mtime; compared against, so a hot blob is still persisted. */
  persistedMs: number;
}

/**
 * Last-use times are written to the blob file's mtime so they survive a
 * restart, but at most once per this interval per blob: a presence check of
 * 10,000 blobs must not become 10,000 metadata writes every time.
 */
const TOUCH_PERSIST_INTERVAL_MS = 60_000;

/**
 * A BlobStore in a local directory: `<dir>/blobs/<first 2 hex>/<hash>`,
 * uploads staged in `<dir>/tmp/` and renamed into place once verified (same
 * filesystem, so the rename is atomic). The index of sizes and last-use times
 * lives in memory, rebuilt from a scan of the directory on open; the
 * filesystem is the only truth.
 *
 * Blobs are not fsync'ed before the rename: a CAS loses nothing it cannot be
 * sent again, and a sync per small file would cost the many-small-files case
 * most of its speed.
 */
export class FsBlobStore implements BlobStore {
  private readonly index = new Map<string, IndexEntry>();
  private totalBytes = 0;
  private counters = { hits: 0, misses: 0, evictions: 0, evictedBytes: 0 };
  private tmpSeq = 0;
  /** Last-use writes in flight; close() waits for them so a restart sees them. */
  private readonly pendingTouches = new Set<Promise<void>>();

  private constructor(
    private readonly dir: string,
    private readonly clock: Clock,
  ) {}

  /** Opens (creating if needed) the store in `dir` and indexes what is there. */
  static async open(dir: string, clock: Clock): Promise<FsBlobStore> {
    const store = new FsBlobStore(dir, clock);
    await mkdir(join(dir, "blobs"), { recursive: true });
    // Leftover temp files are uploads that never finished; nobody can resume them.
    await rm(join(dir, "tmp"), { recursive: true, force: true });
    await mkdir(join(dir, "tmp"), { recursive: true });
    // All 256 fan-out directories up front, so no upload pays for a mkdir.
    for (let i = 0; i < 256; i++) await mkdir(join(dir, "blobs", i.toString(16).padStart(2, "0")), { recursive: true });
    await store.scan();
    return store;
  }

  private async scan(): Promise<void> {
    const root = join(this.dir, "blobs");
    for (const prefix of await readdir(root)) {
      for (const name of await readdir(join(root, prefix)).catch(() => [] as string[])) {
        if (!isHash(name)) continue;
        const st = await stat(join(root, prefix, name)).catch(() => null);
        if (!st?.isFile()) continue;
        this.index.set(name, { size: st.size, lastUseMs: st.mtimeMs, persistedMs: st.mtimeMs });
        this.totalBytes += st.size;
      }
    }
  }

  private blobPath(hash: string): string {
    return join(this.dir, "blobs", hash.slice(0, 2), hash);
  }

  private touch(hash: string, entry: IndexEntry): void {
    const now = this.clock.now();
    entry.lastUseMs = now;
    if (now - entry.persistedMs < TOUCH_PERSIST_INTERVAL_MS) return;
    entry.persistedMs = now;
    const t = new Date(now);
    // Best effort: a blob evicted meanwhile has nothing to touch.
    const write = utimes(this.blobPath(hash), t, t)
      .catch(() => {})
      .finally(() => this.pendingTouches.delete(write));
    this.pendingTouches.add(write);
  }

  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    const missing: Digest[] = [];
    for (const d of digests) {
      if (d.size === 0 && d.hash === EMPTY_DIGEST.hash) continue;
      const entry = this.index.get(d.hash);
      if (entry && entry.size === d.size) {
        this.counters.hits++;
        this.touch(d.hash, entry);
      } else {
        this.counters.misses++;
        missing.push(d);
      }
    }
    return missing;
  }

  async put(digest: Digest, body: ReadableStream<Uint8Array> | Uint8Array): Promise<{ created: boolean }> {
    const existing = this.index.get(digest.hash);
    if ((existing && existing.size === digest.size) || (digest.hash === EMPTY_DIGEST.hash && digest.size === 0)) {
      // Re-uploading is cheap: the bytes are read off the wire and dropped.
      if (!(body instanceof Uint8Array)) await drain(body);
      if (existing) this.touch(digest.hash, existing);
      return { created: false };
    }
    const tmp = join(this.dir, "tmp", `${digest.hash}.${process.pid}.${this.tmpSeq++}`);
    if (body instanceof Uint8Array) {
      this.writeSmall(digest, body, tmp);
    } else {
      await this.writeStream(digest, body, tmp);
    }
    const now = this.clock.now();
    if (!this.index.has(digest.hash)) this.totalBytes += digest.size;
    this.index.set(digest.hash, { size: digest.size, lastUseMs: now, persistedMs: now });
    return { created: true };
  }

  /**
   * Blobs already in memory (batch uploads: thousands of small files) are
   * verified and written with plain synchronous calls: each takes
   * microseconds, and a promise per syscall would cost more than the write.
   */
  private writeSmall(digest: Digest, bytes: Uint8Array, tmp: string): void {
    checkBytesMatch(bytes, digest, `blob ${digest.hash}`);
    try {
      // Blobs are immutable: read-only guards against anyone writing through a stray handle.
      writeFileSync(tmp, bytes, { mode: 0o444 });
      this.publish(tmp, digest.hash);
    } catch (err) {
      try {
        unlinkSync(tmp);
      } catch {
        // never written, or already renamed
      }
      throw this.writeError(err, digest);
    }
  }

  private async writeStream(digest: Digest, body: ReadableStream<Uint8Array>, tmp: string): Promise<void> {
    const file = await open(tmp, "w", 0o444).catch((err) => {
      throw this.writeError(err, digest);
    });
    try {
      for await (const chunk of verifyingStream(body, digest, `blob ${digest.hash}`)) {
        await file.write(chunk);
      }
      await file.close();
      this.publish(tmp, digest.hash);
    } catch (err) {
      await file.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw this.writeError(err, digest);
    }
  }

  /** A full disk is the operator's to fix (507), not a dt bug (500); other errors pass through. */
  private writeError(err: unknown, digest: Digest): unknown {
    if (errnoCode(err) !== "ENOSPC") return err;
    return new DtError("no_space", `the blob store ${this.dir} is full while storing ${formatDigest(digest)}; free space or set --max-size`, { cause: err });
  }

  /** Moves a verified temp file into place and stamps its last use (the mtime) from the clock. */
  private publish(tmp: string, hash: string): void {
    const final = this.blobPath(hash);
    renameSync(tmp, final);
    const now = new Date(this.clock.now());
    utimesSync(final, now, now);
  }

  async get(hash: string, range?: ByteRange): Promise<BlobRead | null> {
    if (hash === EMPTY_DIGEST.hash) {
      this.counters.hits++;
      return { size: 0, body: new Blob([]) };
    }
    const entry = this.index.get(hash);
    if (!entry) {
      this.counters.misses++;
      return null;
    }
    const file = Bun.file(this.blobPath(hash));
    if (!(await file.exists())) {
      // Deleted behind our back (an operator cleaning up): forget it.
      this.forget(hash, entry);
      this.counters.misses++;
      return null;
    }
    this.counters.hits++;
    this.touch(hash, entry);
    return { size: entry.size, body: range ? file.slice(range.start, range.end + 1) : file };
  }

  async sizeOf(hash: string): Promise<number | null> {
    if (hash === EMPTY_DIGEST.hash) return 0;
    return this.index.get(hash)?.size ?? null;
  }

  async delete(hash: string): Promise<boolean> {
    const entry = this.index.get(hash);
    if (!entry) return false;
    this.forget(hash, entry);
    await unlink(this.blobPath(hash)).catch((err) => {
      if (errnoCode(err) !== "ENOENT") throw err;
    });
    return true;
  }

  private forget(hash: string, entry: IndexEntry): void {
    this.index.delete(hash);
    this.totalBytes -= entry.size;
  }

  async trim(policy: TrimPolicy): Promise<{ blobs: number; bytes: number }> {
    if (this.totalBytes <= policy.maxBytes) return { blobs: 0, bytes: 0 };
    const youngest = this.clock.now() - policy.minAgeMs;
    const candidates: [string, IndexEntry][] = [];
    for (const item of this.index) if (item[1].lastUseMs <= youngest) candidates.push(item);
    candidates.sort((a, b) => a[1].lastUseMs - b[1].lastUseMs);
    let blobs = 0;
    let bytes = 0;
    for (const [hash, entry] of candidates) {
      if (this.totalBytes <= policy.maxBytes) break;
      // A presence check may have used it while earlier deletes were awaited: it stays.
      if (this.index.get(hash) !== entry || entry.lastUseMs > youngest) continue;
      await this.delete(hash);
      blobs++;
      bytes += entry.size;
    }
    this.counters.evictions += blobs;
    this.counters.evictedBytes += bytes;
    return { blobs, bytes };
  }

  async stats(): Promise<BlobStoreStats> {
    return { blobs: this.index.size, bytes: this.totalBytes, ...this.counters };
  }

  async ping(): Promise<void> {
    // Uploads are staged in tmp/ and renamed into blobs/: both must be there.
    await checkWritableDir(join(this.dir, "tmp"), "blob store");
    if (!(await stat(join(this.dir, "blobs")).catch(() => null))?.isDirectory()) {
      throw new DtError("unreachable", `blob store ${this.dir}: ${join(this.dir, "blobs")} is missing; restart the server to recreate it (its blobs are gone)`);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.pendingTouches);
  }

}

async function drain(stream: ReadableStream<Uint8Array>): Promise<void> {
  for await (const _ of stream) {
    // discard
  }
}


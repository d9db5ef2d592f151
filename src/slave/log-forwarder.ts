import { open } from "node:fs/promises";
import { Writable } from "node:stream";
import { errnoCode } from "../common/errors.ts";
import type { Logger } from "../common/log.ts";
import type { LogStream, MasterClient } from "./master-client.ts";

export interface LogForwarderOptions {
  master: MasterClient;
  leaseId: string;
  stream: LogStream;
  /** The log file run-isolated writes the stream to; appends are read back from it. */
  path: string;
  log: Logger;
  /** Fields of every log line (job, task, attempt). */
  fields: Record<string, unknown>;
  /** A trickle of output is sent at most this often. 1 s: live enough to watch, few enough requests for hundreds of slots. */
  intervalMs?: number;
  /** Output is sent at once when this much is pending, and in pieces of at most this size. 64 KiB: one cheap request. */
  chunkBytes?: number;
}

/** Output written to the echo but not yet readable from the file (the file stream writes behind): look again this soon. */
const NOT_ON_DISK_YET_MS = 25;
/** Answers that do not move the master's size forward before live forwarding is given up (the final upload still has it all). */
const MAX_STALLED_APPENDS = 3;

/**
 * Streams one output stream of a running task to the master's live log as
 * it is written. `echo` only counts the bytes the command wrote; the bytes
 * themselves are read back from the log file at the master's offset, so
 * however long the master is away, the slave holds at most one chunk in
 * memory, and a retried or resynced append can always be rebuilt.
 *
 * The first output goes out at once; after that, at most one append per
 * interval unless a full chunk is pending. Forwarding is best effort: when
 * the master refuses or stays away past the client's tries, it stops with a
 * warning, and the log file uploaded at the end is the record.
 *
 * @example
 *   const out = new LogForwarder({ master, leaseId, stream: "stdout", path, log, fields });
 *   await runIsolated({ ..., echoStdout: out.echo });
 *   await out.close();
 */
export class LogForwarder {
  readonly echo: Writable;
  private produced = 0;
  private sent = 0;
  private lastSendAt = Number.NEGATIVE_INFINITY;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pumping: Promise<void> | undefined;
  private closing = false;
  private stopped = false;
  private stalled = 0;
  private readonly abortController = new AbortController();
  private readonly intervalMs: number;
  private readonly chunkBytes: number;

  constructor(private readonly o: LogForwarderOptions) {
    this.intervalMs = o.intervalMs ?? 1_000;
    this.chunkBytes = o.chunkBytes ?? 64 * 1024;
    this.echo = new Writable({
      write: (chunk: Uint8Array, _encoding, callback) => {
        this.produced += chunk.byteLength;
        this.schedule();
        callback();
      },
    });
  }

  /** Bytes the master has acknowledged. */
  get forwardedBytes(): number {
    return this.sent;
  }

  /** Sends what is left (the command has ended and its file is complete), then stops. */
  async close(): Promise<void> {
    this.closing = true;
    this.clearTimer();
    await this.pumping;
    if (!this.stopped && this.sent < this.produced) await this.pump();
    this.stopped = true;
  }

  /** Stops at once, dropping what is unsent: the lease is no longer the slave's. */
  abort(): void {
    this.stopped = true;
    this.clearTimer();
    this.abortController.abort();
  }

  private schedule(delayMs?: number): void {
    if (this.stopped || this.closing || this.sent >= this.produced) return;
    const wait = delayMs ?? (this.produced - this.sent >= this.chunkBytes ? 0 : this.lastSendAt + this.intervalMs - performance.now());
    if (wait <= 0) {
      this.clearTimer();
      this.kick();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, wait);
    }
  }

  /** Output that comes while an append is in flight waits for it; the pump's end schedules the next one. */
  private kick(): void {
    if (this.pumping) return;
    this.pumping = this.pump().then((retryInMs) => {
      this.pumping = undefined;
      this.schedule(retryInMs);
    });
  }

  /**
   * Appends from the master's offset: full chunks while they are pending,
   * everything when closing. Returns a delay when written output is not
   * readable yet (the file stream writes behind the echo).
   */
  private async pump(): Promise<number | undefined> {
    let file: Awaited<ReturnType<typeof open>>;
    try {
      file = await open(this.o.path, "r");
    } catch (err) {
      // The file stream opens the file asynchronously; the first output can be echoed before it exists.
      if (errnoCode(err) === "ENOENT") return NOT_ON_DISK_YET_MS;
      this.giveUp((err as Error).message);
      return undefined;
    }
    try {
      while (!this.stopped && this.sent < this.produced) {
        const want = Math.min(this.chunkBytes, this.produced - this.sent);
        const buffer = new Uint8Array(want);
        const { bytesRead } = await file.read(buffer, 0, want, this.sent);
        // When closing, a short file means it failed to write (disk full): nothing more will come.
        if (bytesRead === 0) return NOT_ON_DISK_YET_MS;
        this.lastSendAt = performance.now();
        const size = await this.o.master.appendLog(this.o.leaseId, this.o.stream, this.sent, buffer.subarray(0, bytesRead), this.abortController.signal);
        if (size === null) return undefined;
        this.stalled = size > this.sent ? 0 : this.stalled + 1;
        if (this.stalled >= MAX_STALLED_APPENDS || size > this.produced) {
          this.giveUp(`the master holds ${size} bytes after an append at ${this.sent} (${this.produced} written)`);
          return undefined;
        }
        this.sent = size;
        // A trickle waits for the next interval; a flood goes on in full chunks.
        if (!this.closing && this.produced - this.sent < this.chunkBytes) break;
      }
    } catch (err) {
      this.giveUp((err as Error).message);
    } finally {
      await file.close().catch(() => {});
    }
    return undefined;
  }

  private giveUp(why: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimer();
    this.o.log.warn(`live ${this.o.stream} of lease ${this.o.leaseId} stopped after ${this.sent} bytes: ${why}; the whole log is uploaded when the task ends`, this.o.fields);
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

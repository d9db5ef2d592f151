/**
 * Worker thread of the hash pool: hashes the files it is sent, one message
 * per file, so two cores hash two files at once.
 */
import { type FileIdentity, openChecked } from "../outputs/open-checked.ts";

declare const self: Worker;

export interface HashRequest {
  id: number;
  path: string;
  /** Set for files the hasher does not trust (a test's outputs): only this file, and only its first `size` bytes, are read (see openChecked). */
  expect?: FileIdentity;
}
export type HashReply = { id: number; hash: string; size: number } | { id: number; error: string; code?: string };

/** Read size: big enough that syscalls do not dominate, small enough to stay in L2. */
const CHUNK_BYTES = 1 << 20;

const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
const fs = require("node:fs") as typeof import("node:fs");

self.onmessage = (event: MessageEvent<HashRequest>) => {
  const { id, path, expect } = event.data;
  try {
    const hasher = new Bun.CryptoHasher("sha256");
    const fd = expect ? openChecked(path, expect) : fs.openSync(path, "r");
    // A file growing while it is read is read no further than the size it was listed with.
    const limit = expect ? expect.size : Number.POSITIVE_INFINITY;
    let size = 0;
    try {
      for (let n; size < limit && (n = fs.readSync(fd, buffer, 0, Math.min(CHUNK_BYTES, limit - size), null)) > 0; ) {
        hasher.update(buffer.subarray(0, n));
        size += n;
      }
    } finally {
      fs.closeSync(fd);
    }
    self.postMessage({ id, hash: hasher.digest("hex"), size } satisfies HashReply);
  } catch (err) {
    self.postMessage({ id, error: (err as Error).message, code: (err as { code?: string }).code } satisfies HashReply);
  }
};

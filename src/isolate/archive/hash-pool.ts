import { availableParallelism } from "node:os";
import { DtError } from "../../common/errors.ts";
import type { Digest } from "../digest.ts";
import type { FileIdentity } from "../outputs/open-checked.ts";
import type { HashReply, HashRequest } from "./hash-worker.ts";

/**
 * Files kept in flight per worker: enough that a worker never waits for its
 * next message, few enough that work stays balanced at the end.
 */
const IN_FLIGHT_PER_WORKER = 4;

/**
 * Hashes files on all cores with a pool of worker threads. The worker is a
 * separate entry point of `bun build --compile` (see scripts/build.ts).
 *
 * @example
 *   const pool = new HashPool();
 *   try { const digests = await pool.hashAll(paths); } finally { pool.close(); }
 */
export class HashPool {
  private readonly workers: Worker[];

  constructor(size = Math.max(1, Math.min(availableParallelism(), 8))) {
    this.workers = Array.from({ length: size }, () => new Worker(hashWorkerSpecifier()));
  }

  /**
   * Digests of `paths`, in order. A file that cannot be read is a DtError naming it.
   * With `identities` (one per path), each file is read only if it is still the one listed (openChecked).
   */
  hashAll(paths: readonly string[], identities?: readonly FileIdentity[]): Promise<Digest[]> {
    const results: Digest[] = new Array(paths.length);
    if (paths.length === 0) return Promise.resolve(results);
    return new Promise((resolvePromise, reject) => {
      let next = 0;
      let done = 0;
      let failed = false;
      const feed = (worker: Worker) => {
        if (next < paths.length) {
          const id = next++;
          worker.postMessage({ id, path: paths[id]!, expect: identities?.[id] } satisfies HashRequest);
        }
      };
      for (const worker of this.workers) {
        worker.onmessage = (event: MessageEvent<HashReply>) => {
          if (failed) return;
          const reply = event.data;
          if ("error" in reply) {
            failed = true;
            const path = paths[reply.id];
            reject(new DtError(reply.code === "ENOENT" ? "not_found" : "invalid_input", `cannot hash ${path}: ${reply.error}`));
            return;
          }
          results[reply.id] = { hash: reply.hash, size: reply.size };
          if (++done === paths.length) resolvePromise(results);
          else feed(worker);
        };
        worker.onerror = (event) => {
          failed = true;
          reject(new DtError("internal", `hash worker failed: ${event.message}`));
        };
        for (let i = 0; i < IN_FLIGHT_PER_WORKER; i++) feed(worker);
      }
    });
  }

  close(): void {
    for (const worker of this.workers) worker.terminate();
  }
}

/**
 * Where the worker's code is. From source it sits beside this file. Inside
 * the compiled binary, bundled files live under `/$bunfs/root/` and are named
 * relative to the common directory of the build's entry points (src/, see
 * scripts/build.ts), so the worker is found by that relative path.
 */
function hashWorkerSpecifier(): string {
  return import.meta.url.startsWith("file:///$bunfs/") ? "./isolate/archive/hash-worker.ts" : new URL("./hash-worker.ts", import.meta.url).href;
}

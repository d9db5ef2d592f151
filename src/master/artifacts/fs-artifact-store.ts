import { mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { DtError, errnoCode } from "../../common/errors.ts";
import { checkWritableDir } from "../../common/metrics/readiness.ts";
import { type ArtifactStore, checkArtifactKey, isArtifactKey, masterArtifactLink } from "./artifact-store.ts";

/** An ArtifactStore in a local directory: `<dir>/<key>`, staged in `<dir>/.tmp/`. */
export class FsArtifactStore implements ArtifactStore {
  private seq = 0;

  constructor(private readonly dir: string) {
    mkdirSync(join(dir, ".tmp"), { recursive: true });
  }

  async put(key: string, body: ReadableStream<Uint8Array> | Uint8Array, expectedSize?: number): Promise<{ size: number }> {
    checkArtifactKey(key);
    const tmp = join(this.dir, ".tmp", `${key}.${process.pid}.${this.seq++}`);
    const file = await open(tmp, "w", 0o644);
    let size = 0;
    try {
      if (body instanceof Uint8Array) {
        await file.write(body);
        size = body.byteLength;
      } else {
        for await (const chunk of body) {
          await file.write(chunk);
          size += chunk.byteLength;
        }
      }
      await file.close();
      if (expectedSize !== undefined && size !== expectedSize) {
        throw new DtError("invalid_input", `artifact ${key}: the body has ${size} bytes, not its declared ${expectedSize}`);
      }
      renameSync(tmp, join(this.dir, key));
    } catch (err) {
      await file.close().catch(() => {});
      rmSync(tmp, { force: true });
      if (errnoCode(err) === "ENOSPC") throw new DtError("no_space", `the artifact store ${this.dir} is full while storing ${key}`, { cause: err });
      throw err;
    }
    return { size };
  }

  async get(key: string): Promise<{ size: number; body: Blob } | null> {
    if (!isArtifactKey(key)) return null;
    const path = join(this.dir, key);
    try {
      return { size: statSync(path).size, body: Bun.file(path) };
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return null;
      throw err;
    }
  }

  async link(key: string, masterUrl: string): Promise<string> {
    return masterArtifactLink(key, masterUrl);
  }

  /** Objects are staged in .tmp/ and renamed into place: a file made there proves both. */
  ping(): Promise<void> {
    return checkWritableDir(join(this.dir, ".tmp"), "artifact store");
  }

  async close(): Promise<void> {}
}

import { mapLimit } from "../../common/concurrency.ts";
import { DtError } from "../../common/errors.ts";
import type { BlobStore } from "../../isolate/cas/blob-store.ts";
import { MAX_MANIFEST_BYTES, parseIsolated } from "../../isolate/manifest.ts";

/** Throws a DtError for a manifest that must not run; resolves for a good one or one the checker cannot see. */
export type ManifestCheck = (hash: string) => Promise<void>;

/** Manifests read at once: local disk or S3 GETs, a few hundred per job at most in practice (one per test binary). */
const CHECK_CONCURRENCY = 16;

/**
 * Checks manifests in the CAS the master serves, at submit: one that fails
 * parseIsolated (absolute paths, `..`, duplicate entries, symlinks out of
 * the tree, devices) refuses the job with a 400 before anything is stored,
 * rather than failing on every slave it reaches. A manifest that is not
 * there yet passes: the slave reports the missing tree (INFRA_FAILED), as
 * before. Slaves check every manifest again before mapping it, since the
 * master does not see a separate `--isolate-server`.
 */
export function blobStoreManifestCheck(store: BlobStore): ManifestCheck {
  return async (hash) => {
    const size = await store.sizeOf(hash);
    if (size === null) return;
    if (size > MAX_MANIFEST_BYTES) throw new DtError("invalid_input", `manifest ${hash}: ${size} bytes, more than a manifest's ${MAX_MANIFEST_BYTES}; is isolate_hash the digest dt archive printed?`);
    const read = await store.get(hash);
    if (!read) return;
    parseIsolated(new Uint8Array(await new Response(read.body).arrayBuffer()), `manifest ${hash}`);
  };
}

/** Runs `check` once per distinct manifest of a job; the error names the first task using a refused one. */
export async function checkJobManifests(tasks: readonly { isolateHash: string; description: string }[], check: ManifestCheck): Promise<void> {
  const firstUse = new Map<string, number>();
  tasks.forEach((t, i) => firstUse.has(t.isolateHash) || firstUse.set(t.isolateHash, i));
  await mapLimit([...firstUse], CHECK_CONCURRENCY, async ([hash, index]) => {
    try {
      await check(hash);
    } catch (err) {
      if (!(err instanceof DtError) || err.code === "unreachable" || err.code === "internal") throw err;
      throw new DtError("invalid_input", `tasks[${index}].isolate_hash (${tasks[index]!.description}): the manifest is refused: ${err.message}`, { cause: err });
    }
  });
}

import { mapLimit } from "../../common/concurrency.ts";
import { DtError, isDtError } from "../../common/errors.ts";
import type { BlobStore } from "../../isolate/cas/blob-store.ts";
import { MAX_MANIFEST_BYTES, parseIsolated } from "../../isolate/manifest.ts";

/**
 * Throws a DtError for a manifest that must not run: `not_found` when the
 * CAS does not have it, `invalid_input` when it is refused; resolves for a
 * good one.
 */
export type ManifestCheck = (hash: string) => Promise<void>;

/**
 * Manifests looked at at once: local disk (an in-memory index and a file
 * read) or S3 (a HEAD and a GET each). A job names one per test binary, a
 * few hundred in practice; a 100,000-task job of distinct manifests is then
 * 100,000 / 32 rounds, not 100,000 sequential reads.
 */
const CHECK_CONCURRENCY = 32;

/** Tasks with a missing manifest named in the error beyond the first: enough to see a pattern, short enough to read. */
const MISSING_NAMED = 3;

/**
 * Checks manifests in the CAS the master serves (at `casUrl`), at submit:
 * one that is not there, or that fails parseIsolated (absolute paths, `..`,
 * duplicate entries, symlinks out of the tree, devices), refuses the job
 * with a 400 before anything is stored, rather than failing on every slave
 * it reaches. Slaves check every manifest again before mapping it, since the
 * master does not see a separate `--isolate-server`.
 */
export function blobStoreManifestCheck(store: BlobStore, casUrl: string): ManifestCheck {
  return async (hash) => {
    const size = await store.sizeOf(hash);
    if (size === null) throw notInCas(hash, casUrl);
    if (size > MAX_MANIFEST_BYTES) throw new DtError("invalid_input", `manifest ${hash}: ${size} bytes, more than a manifest's ${MAX_MANIFEST_BYTES}; is isolate_hash the digest dt archive printed?`);
    const read = await store.get(hash);
    // Evicted between the two looks: as absent as if it had never come.
    if (!read) throw notInCas(hash, casUrl);
    parseIsolated(new Uint8Array(await new Response(read.body).arrayBuffer()), `manifest ${hash}`);
  };
}

function notInCas(hash: string, casUrl: string): DtError {
  return new DtError("not_found", `manifest ${hash} is not in the CAS at ${casUrl}; did you run dt archive against ${casUrl}?`);
}

/**
 * Runs `check` once per distinct manifest of a job (tasks of one test binary
 * share theirs), `CHECK_CONCURRENCY` at a time. A refused manifest ends the
 * check at once; missing ones are all looked for, so the error says how many
 * tasks are affected, and names the first (in task order).
 */
export async function checkJobManifests(tasks: readonly { isolateHash: string; description: string }[], check: ManifestCheck): Promise<void> {
  const firstUse = new Map<string, number>();
  tasks.forEach((t, i) => firstUse.has(t.isolateHash) || firstUse.set(t.isolateHash, i));
  const missing = new Map<string, DtError>();
  await mapLimit([...firstUse], CHECK_CONCURRENCY, async ([hash, index]) => {
    try {
      await check(hash);
    } catch (err) {
      if (isDtError(err, "not_found")) {
        missing.set(hash, err);
        return;
      }
      if (!(err instanceof DtError) || err.code === "unreachable" || err.code === "internal") throw err;
      throw new DtError("invalid_input", `${taskField(tasks, index)}: the manifest is refused: ${err.message}`, { cause: err });
    }
  });
  if (missing.size === 0) return;
  const affected = tasks.flatMap((t, i) => (missing.has(t.isolateHash) ? [i] : []));
  const first = affected[0]!;
  const others = affected.slice(1);
  const more = others.length === 0 ? ""
    : ` (also ${others.slice(0, MISSING_NAMED).map((i) => taskField(tasks, i)).join(", ")}${others.length > MISSING_NAMED ? ` and ${others.length - MISSING_NAMED} more tasks` : ""}; ${missing.size} distinct manifests missing)`;
  throw new DtError("invalid_input", `${taskField(tasks, first)}: ${missing.get(tasks[first]!.isolateHash)!.message}${more}`);
}

function taskField(tasks: readonly { description: string }[], index: number): string {
  return `tasks[${index}].isolate_hash (${tasks[index]!.description})`;
}

import { DtError, isDtError } from "../../common/errors.ts";
import type { BlobStore } from "../../isolate/cas/blob-store.ts";
import { parseIsolated } from "../../isolate/manifest.ts";

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

/**
 * How long a submit may spend looking at manifests. Clients give up on an
 * answer after 60 s (DEFAULT_URL_TIMEOUT_SEC, and Bun's idle timeout on the
 * master's connections) and submit again, which finds the first submit's job
 * id taken. In 20 s, a CAS on s3rver checked about 2,900 distinct manifests
 * (a HEAD and a GET each, 32 in flight); AWS S3, at some 40 ms a pair, would
 * check an estimated 15,000. The rest run unchecked, and a slave that finds
 * one missing fails the task with the same words.
 */
export const CHECK_BUDGET_MS = 20_000;

/**
 * Manifests bigger than this are looked for at submit but not read: 32 reads
 * of manifests up to MAX_MANIFEST_BYTES (256 MiB, any blob a user uploaded)
 * would hold 8 GiB in the master's memory and parse for seconds each. A
 * manifest of 30,000 files is about 4 MiB; slaves parse every manifest
 * before they map it, so a bigger one is still checked, there.
 */
export const MAX_PARSED_AT_SUBMIT_BYTES = 4 * 2 ** 20;

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
    if (size > MAX_PARSED_AT_SUBMIT_BYTES) return;
    const read = await store.get(hash);
    // Evicted between the two looks: as absent as if it had never come.
    if (!read) throw notInCas(hash, casUrl);
    parseIsolated(new Uint8Array(await new Response(read.body).arrayBuffer()), `manifest ${hash}`);
  };
}

function notInCas(hash: string, casUrl: string): DtError {
  return new DtError("not_found", `manifest ${hash} is not in the CAS at ${casUrl}; did you run dt archive against ${casUrl}?`);
}

/** What checkJobManifests got through: `unchecked` manifests were still waiting (or being looked at) when the budget ran out. */
export interface ManifestCheckResult {
  manifests: number;
  unchecked: number;
}

/**
 * Runs `check` once per distinct manifest of a job (tasks of one test binary
 * share theirs), `CHECK_CONCURRENCY` at a time, for at most `budgetMs`. A
 * refused manifest ends the check at once; missing ones are all looked for,
 * so the error says how many tasks are affected, and names the first (in
 * task order). A CAS that fails is `unreachable` (503: clients submit
 * again), and so is one that answered none of the looks within the budget;
 * one that answered some lets the rest through unchecked.
 */
export async function checkJobManifests(
  tasks: readonly { isolateHash: string; description: string }[],
  check: ManifestCheck,
  budgetMs = CHECK_BUDGET_MS,
): Promise<ManifestCheckResult> {
  const firstUse = new Map<string, number>();
  tasks.forEach((t, i) => firstUse.has(t.isolateHash) || firstUse.set(t.isolateHash, i));
  const manifests = [...firstUse];
  const missing = new Map<string, DtError>();
  let failure: unknown;
  let next = 0;
  let answered = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped && failure === undefined && next < manifests.length) {
      const [hash, index] = manifests[next++]!;
      try {
        await check(hash);
      } catch (err) {
        // A look that ends after the budget changes nothing: the answer has gone.
        if (stopped) return;
        if (isDtError(err, "not_found")) missing.set(hash, err);
        else failure ??= checkFailure(err, taskField(tasks, index));
      }
      answered++;
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outOfTime = new Promise<void>((resolve) => (timer = setTimeout(resolve, budgetMs)));
  await Promise.race([Promise.all(Array.from({ length: Math.min(CHECK_CONCURRENCY, manifests.length) }, worker)), outOfTime]);
  clearTimeout(timer);
  stopped = true;
  if (failure !== undefined) throw failure;
  if (missing.size > 0) throw missingError(tasks, missing);
  if (answered === 0 && manifests.length > 0) {
    throw new DtError("unreachable", `${taskField(tasks, 0)}: the CAS answered none of the job's ${manifests.length} manifest looks within ${budgetMs / 1000} s; the job was not stored: submit it again once the CAS answers`);
  }
  return { manifests: manifests.length, unchecked: manifests.length - answered };
}

/** A failure of one look as the submit's answer: the manifest's refusal (400), or the CAS's trouble (503) saying the job was not stored. */
function checkFailure(err: unknown, field: string): unknown {
  if (!(err instanceof DtError) || err.code === "internal") return err;
  if (err.code === "unreachable") {
    return new DtError("unreachable", `${field}: could not check the manifest: ${err.message}; the job was not stored: submit it again once the CAS answers`, { cause: err });
  }
  return new DtError("invalid_input", `${field}: the manifest is refused: ${err.message}`, { cause: err });
}

function missingError(tasks: readonly { isolateHash: string; description: string }[], missing: Map<string, DtError>): DtError {
  const affected = tasks.flatMap((t, i) => (missing.has(t.isolateHash) ? [i] : []));
  const first = affected[0]!;
  const others = affected.slice(1);
  const more = others.length === 0 ? ""
    : ` (also ${others.slice(0, MISSING_NAMED).map((i) => taskField(tasks, i)).join(", ")}${others.length > MISSING_NAMED ? ` and ${others.length - MISSING_NAMED} more tasks` : ""}; ${missing.size} distinct manifests missing)`;
  return new DtError("invalid_input", `${taskField(tasks, first)}: ${missing.get(tasks[first]!.isolateHash)!.message}${more}`);
}

function taskField(tasks: readonly { description: string }[], index: number): string {
  return `tasks[${index}].isolate_hash (${tasks[index]!.description})`;
}

/**
 * What the cluster runs: a trivial tree archived by `dt archive` (its
 * command `true`), and manifests derived from it whose command is
 * `sleep <seconds>`, uploaded in process (one per distinct duration), plus
 * the seeded, heavy-tailed durations the makespan measurement sleeps for.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeIsolated, parseIsolated } from "../../src/isolate/manifest.ts";
import { seededRandom } from "../../test/helpers/prng.ts";
import { timedRun } from "../isolate/procs.ts";
import type { MasterApi } from "./api.ts";

/** `dt archive` of a one-file tree takes ~50 ms; a minute means it hung. */
const ARCHIVE_TIMEOUT_MS = 60_000;

export interface ArchivedTree {
  digest: string;
  /** The manifest as written by `-s`, to derive other commands from. */
  manifestPath: string;
}

/**
 * Archives a one-file tree under `dir` to the master's CAS with
 * `dt archive --root DIR --path . -- true`; returns the digest it prints.
 */
export async function archiveTrivialTree(dt: string, casUrl: string, dir: string): Promise<ArchivedTree> {
  const tree = join(dir, "tree");
  mkdirSync(tree, { recursive: true });
  writeFileSync(join(tree, "README"), "a tree for bench/cluster.ts: the command is all that matters\n");
  const manifestPath = join(dir, "true.isolated");
  const { stdout } = await timedRun(
    [dt, "archive", "--isolate-server", casUrl, "--hash-cache", "none", "--root", tree, "--path", ".", "-s", manifestPath, "--log-level", "warn", "--", "true"],
    { timeoutMs: ARCHIVE_TIMEOUT_MS },
  );
  const digest = /^([0-9a-f]{64}) {2}/m.exec(stdout)?.[1];
  if (!digest) throw new Error(`dt archive printed no digest: ${stdout}`);
  return { digest, manifestPath };
}

/**
 * Uploads one manifest per distinct duration, each the trivial tree with
 * the command `sleep <seconds>`; returns the digest for each duration.
 * The tree's file is already in the CAS, so only the manifests are new.
 */
export async function uploadSleepManifests(api: MasterApi, base: ArchivedTree, secondsList: readonly number[]): Promise<Map<number, string>> {
  const isolated = parseIsolated(readFileSync(base.manifestPath), base.manifestPath);
  const digests = new Map<number, string>();
  for (const seconds of new Set(secondsList)) {
    const { bytes, digest } = encodeIsolated({ ...isolated, command: ["sleep", seconds.toFixed(2)] });
    await api.putBlob(digest.hash, bytes);
    digests.set(seconds, digest.hash);
  }
  return digests;
}

/** The shape of the makespan workload; every number follows from these. */
export const SLEEP_WORKLOAD = {
  seed: 20_261_122,
  tasks: 200,
  /** Long tasks, 5–10 s uniform: few enough to be stragglers, long enough to decide the makespan if started last. */
  longTasks: 10,
  longMinSec: 5,
  longMaxSec: 10,
  /** Short tasks: lognormal, median 0.3 s, σ 0.6, kept within 0.1–1 s, like most unit tests. */
  shortMedianSec: 0.3,
  shortSigma: 0.6,
  shortMinSec: 0.1,
  shortMaxSec: 1,
} as const;

/**
 * The durations, in seconds rounded to 10 ms, in submission order: a seeded
 * shuffle, so the long tasks sit wherever the seed puts them rather than
 * first (which would hand the scheduler the answer without history).
 */
export function sleepDurations(w = SLEEP_WORKLOAD): number[] {
  const random = seededRandom(w.seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const round = (s: number) => Math.round(s * 100) / 100;
  const durations: number[] = [];
  for (let i = 0; i < w.longTasks; i++) durations.push(round(w.longMinSec + random() * (w.longMaxSec - w.longMinSec)));
  for (let i = w.longTasks; i < w.tasks; i++) {
    const s = w.shortMedianSec * Math.exp(w.shortSigma * normal());
    durations.push(round(Math.min(w.shortMaxSec, Math.max(w.shortMinSec, s))));
  }
  for (let i = durations.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [durations[i], durations[j]] = [durations[j]!, durations[i]!];
  }
  return durations;
}

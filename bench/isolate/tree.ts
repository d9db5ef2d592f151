/**
 * The benchmark's input: a deterministic tree shaped like a test's isolated
 * build output. A few large "binaries" hold most of the bytes; many small
 * files (sources, data, generated headers) hold most of the count, which is
 * what stresses per-file costs (lstat, hash-cache lookups, HTTP round trips,
 * link(2)).
 *
 * Every byte follows from `TREE_PARAMS`, so two machines benchmark the same
 * tree. A marker file beside the tree records the parameters it was made
 * with; a tree whose marker matches is reused.
 */
import { createCipheriv, createHash } from "node:crypto";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { seededRandom } from "../../test/helpers/prng.ts";

export interface TreeParams {
  /** Bumped whenever the generator changes what it writes, so stale trees are remade. */
  generatorVersion: number;
  seed: number;
  files: number;
  totalBytes: number;
  largeFiles: number;
  largeMinBytes: number;
  largeMaxBytes: number;
  smallMinBytes: number;
  smallMaxBytes: number;
  /** Directories the small files are spread over; ~25 files each, like a source tree. */
  directories: number;
  /** Share of small files that are text (compressible) rather than pseudo-random (like object files). */
  textShare: number;
}

export const TREE_PARAMS: TreeParams = {
  generatorVersion: 1,
  seed: 20_251_122,
  files: 10_000,
  totalBytes: 2 ** 30,
  largeFiles: 4,
  largeMinBytes: 150e6,
  largeMaxBytes: 250e6,
  // 100 B to 200 KB log-uniform: mean ~26 KB, so ~9,996 small files take ~260 MB
  // and the four binaries share the remaining ~810 MB.
  smallMinBytes: 100,
  smallMaxBytes: 200 * 1024,
  directories: 400,
  textShare: 0.5,
};

/** What the benchmark needs to know about a generated tree. */
export interface GeneratedTree {
  dir: string;
  files: number;
  bytes: number;
  /** A small text file that measurement (c) edits and restores. */
  probeFile: string;
  reused: boolean;
  generateMs: number;
}


/**
 * Bulk pseudo-random bytes: the AES-128-CTR keystream keyed by the seed and
 * the file's index. AES-NI makes this GB/s, where a JS byte loop would take
 * longer than the benchmark itself.
 */
function keystream(seed: number, fileIndex: number): (bytes: number) => Buffer {
  const key = createHash("sha256").update(`dt-bench:${seed}:${fileIndex}`).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  return (bytes) => cipher.update(Buffer.alloc(bytes));
}

/** A few MB of code-like text that small text files are cut from; gzip shrinks it ~3x, as it does real sources. */
function textCorpus(random: () => number, bytes: number): string {
  const syllables = ["ka", "to", "ri", "men", "sta", "lo", "qu", "ex", "pre", "con", "der", "ion", "buf", "ptr", "len", "cfg", "err", "tab"];
  const words = Array.from({ length: 600 }, () => {
    const n = 1 + Math.floor(random() * 3);
    return Array.from({ length: n }, () => syllables[Math.floor(random() * syllables.length)]).join("");
  });
  const pick = () => words[Math.floor(random() * words.length)];
  const lines: string[] = [];
  let length = 0;
  while (length < bytes) {
    const indent = "  ".repeat(Math.floor(random() * 4));
    const r = random();
    const line =
      r < 0.3 ? `${indent}${pick()}_${pick()} = ${pick()}(${pick()}, ${Math.floor(random() * 4096)});`
      : r < 0.5 ? `${indent}// ${pick()} ${pick()} ${pick()} ${pick()} ${pick()} ${pick()}`
      : r < 0.7 ? `${indent}if (${pick()}->${pick()} != ${pick()}) return ${pick()}_${pick()};`
      : r < 0.85 ? `${indent}${pick()} ${pick()}_${pick()}[${Math.floor(random() * 64)}];`
      : `${indent}}`;
    lines.push(line);
    length += line.length + 1;
  }
  return lines.join("\n");
}

interface FilePlan {
  rel: string;
  size: number;
  kind: "large" | "random" | "text";
}

/** Sizes, names and kinds of every file, from the seed alone. */
function planTree(p: TreeParams): FilePlan[] {
  const random = seededRandom(p.seed);
  const dirNames = ["src", "lib", "test", "data", "gen", "third_party", "include", "tools", "res", "proto"];
  const dirs: string[] = [];
  for (let i = 0; i < p.directories; i++) {
    const parent = dirs.length === 0 || random() < 0.15 ? "" : dirs[Math.floor(random() * dirs.length)]!;
    // Depth capped at 6: deeper trees are rare in build outputs and only add mkdir calls.
    const base = parent.split("/").length >= 6 ? "" : parent;
    dirs.push(`${base ? `${base}/` : ""}${dirNames[Math.floor(random() * dirNames.length)]}${i}`);
  }
  const small: FilePlan[] = [];
  const logMin = Math.log(p.smallMinBytes);
  const logMax = Math.log(p.smallMaxBytes);
  for (let i = 0; i < p.files - p.largeFiles; i++) {
    const size = Math.round(Math.exp(logMin + random() * (logMax - logMin)));
    const kind = random() < p.textShare ? "text" : "random";
    const dir = dirs[Math.floor(random() * dirs.length)]!;
    small.push({ rel: `${dir}/f${i}.${kind === "text" ? "cc" : "o"}`, size, kind });
  }
  const largeBytes = p.totalBytes - small.reduce((s, f) => s + f.size, 0);
  // Weights within ±20% of equal shares keep every binary inside [largeMin, largeMax] for these params.
  const weights = Array.from({ length: p.largeFiles }, () => 0.8 + 0.4 * random());
  const weightSum = weights.reduce((a, b) => a + b, 0);
  const large: FilePlan[] = [];
  let assigned = 0;
  for (let i = 0; i < p.largeFiles; i++) {
    const size = i === p.largeFiles - 1 ? largeBytes - assigned : Math.round((largeBytes * weights[i]!) / weightSum);
    assigned += size;
    if (size < p.largeMinBytes || size > p.largeMaxBytes) {
      throw new Error(`tree params: binary ${i} would be ${size} bytes, outside [${p.largeMinBytes}, ${p.largeMaxBytes}]; adjust TREE_PARAMS`);
    }
    large.push({ rel: `bin/binary_${i}`, size, kind: "large" });
  }
  return [...large, ...small];
}

/** Bytes written per write(2) for the binaries: large enough to amortize the call, small enough to keep memory flat. */
const LARGE_CHUNK_BYTES = 16 << 20;

function writeFileContent(path: string, plan: FilePlan, index: number, p: TreeParams, corpus: string, random: () => number): void {
  if (plan.kind === "text") {
    // The index up front makes every file's bytes unique, so blobs = files.
    const header = `// #${index} ${plan.rel}\n`;
    const start = Math.floor(random() * (corpus.length - plan.size));
    writeFileSync(path, (header + corpus.slice(start, start + plan.size)).slice(0, plan.size), { mode: 0o644 });
    return;
  }
  const next = keystream(p.seed, index);
  if (plan.kind === "random") {
    writeFileSync(path, next(plan.size), { mode: 0o644 });
    return;
  }
  const fd = openSync(path, "w", 0o755);
  try {
    for (let left = plan.size; left > 0; left -= LARGE_CHUNK_BYTES) writeSync(fd, next(Math.min(left, LARGE_CHUNK_BYTES)));
  } finally {
    closeSync(fd);
  }
  chmodSync(path, 0o755);
}

/**
 * The tree under `dir`, generated unless `markerPath` says it was already
 * made with these params. The marker is written last, so an interrupted
 * generation is redone from scratch.
 */
export function ensureTree(dir: string, markerPath: string, p: TreeParams = TREE_PARAMS): GeneratedTree {
  const started = performance.now();
  const plans = planTree(p);
  const bytes = plans.reduce((s, f) => s + f.size, 0);
  const probeFile = plans.find((f) => f.kind === "text" && f.size > 1000)!.rel;
  const wanted = JSON.stringify(p);
  if (existsSync(markerPath) && existsSync(dir) && readFileSync(markerPath, "utf8") === wanted) {
    return { dir, files: plans.length, bytes, probeFile, reused: true, generateMs: performance.now() - started };
  }
  rmSync(markerPath, { force: true });
  rmSync(dir, { recursive: true, force: true });
  const contentRandom = seededRandom(p.seed ^ 0x9e3779b9);
  const corpus = textCorpus(contentRandom, 4 << 20);
  const made = new Set<string>();
  plans.forEach((plan, index) => {
    const path = join(dir, plan.rel);
    const parent = dirname(path);
    if (!made.has(parent)) {
      mkdirSync(parent, { recursive: true });
      made.add(parent);
    }
    writeFileContent(path, plan, index, p, corpus, contentRandom);
  });
  // Backdate everything: files modified within seconds of being hashed are not
  // remembered by the hash cache ("racy git"), which would blur measurement (b).
  const past = new Date(Date.now() - 3_600_000);
  for (const plan of plans) utimesSync(join(dir, plan.rel), past, past);
  writeFileSync(markerPath, wanted);
  return { dir, files: plans.length, bytes, probeFile, reused: false, generateMs: performance.now() - started };
}

/**
 * Edits `rel` in place (same inode, same size, new bytes) for measurement (c),
 * returning a function that puts back the original bytes and times, so the
 * next run's hash cache and manifest see the tree as generated. A backup
 * file lets `restorePendingProbe` repair the tree if the bench died between.
 */
export function editProbe(treeDir: string, rel: string, backupPath: string, run: number): () => void {
  const path = join(treeDir, rel);
  const original = readFileSync(path);
  const { atime, mtime } = statSync(path);
  writeFileSync(backupPath, JSON.stringify({ rel, content: original.toString("base64"), atimeMs: atime.getTime(), mtimeMs: mtime.getTime() }));
  const edited = Buffer.from(original);
  edited.write(`// edited by bench run ${run} `, 0);
  writeFileSync(path, edited);
  return () => restorePendingProbe(treeDir, backupPath);
}

/** Puts back a probe file that an earlier (possibly crashed) run edited. */
export function restorePendingProbe(treeDir: string, backupPath: string): void {
  if (!existsSync(backupPath)) return;
  const backup = JSON.parse(readFileSync(backupPath, "utf8")) as { rel: string; content: string; atimeMs: number; mtimeMs: number };
  const path = join(treeDir, backup.rel);
  writeFileSync(path, Buffer.from(backup.content, "base64"));
  utimesSync(path, new Date(backup.atimeMs), new Date(backup.mtimeMs));
  rmSync(backupPath);
}

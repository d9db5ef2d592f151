/**
 * Builds the bench's gtest binaries with g++ against Debian's googletest
 * (libgtest-dev) into a directory of their own, once: a binary whose
 * generated source is unchanged is kept (its source's SHA-256 is stored
 * beside it). Installs nothing: without g++ or googletest it says which
 * script installs them.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { timedRun } from "../isolate/procs.ts";
import { type BinarySpec, gtestSource } from "./workload.ts";

/** The command line after the source; part of the cache key, so a change of flags rebuilds. */
const COMPILE_FLAGS = ["-O1", "-lgtest", "-lgtest_main", "-pthread"] as const;
/** A 200-test file compiles in ~5 s on one idle core; a loaded machine may take several times that. */
const COMPILE_TIMEOUT_MS = 180_000;
/** Where Debian's libgtest-dev puts the header; absent means the package is not installed. */
const GTEST_HEADER = "/usr/include/gtest/gtest.h";

/** Thrown when the machine cannot build the binaries; the message says how to fix it. */
export class ToolchainMissing extends Error {}

/** Where to look for the compiler and the header: the machine's own unless a test says otherwise. */
export interface Toolchain {
  path: string;
  gtestHeader: string;
}

function checkToolchain(toolchain: Toolchain): void {
  const missing: string[] = [];
  if (Bun.which("g++", { PATH: toolchain.path }) === null) missing.push("g++");
  if (!existsSync(toolchain.gtestHeader)) missing.push(`googletest (${toolchain.gtestHeader}, Debian's libgtest-dev)`);
  if (missing.length > 0) {
    throw new ToolchainMissing(`cannot build the bench's gtest binaries: ${missing.join(" and ")} missing; scripts/services/gtest.sh installs them (apt-get, as root), then run the bench again`);
  }
}

/**
 * Every binary of `specs` built in `dir` (its `.cc` beside it), two at a
 * time (the machine has two cores); returns their paths by file name.
 */
export async function buildBinaries(specs: readonly BinarySpec[], dir: string, toolchain: Toolchain = { path: process.env.PATH ?? "", gtestHeader: GTEST_HEADER }): Promise<Map<string, string>> {
  mkdirSync(dir, { recursive: true });
  const paths = new Map<string, string>();
  const stale: { spec: BinarySpec; source: string; key: string }[] = [];
  for (const spec of specs) {
    const source = gtestSource(spec);
    const key = createHash("sha256").update(source).update(COMPILE_FLAGS.join(" ")).digest("hex");
    const binary = join(dir, spec.file);
    paths.set(spec.file, binary);
    const keyFile = `${binary}.key`;
    if (existsSync(binary) && existsSync(keyFile) && readFileSync(keyFile, "utf8") === key) continue;
    stale.push({ spec, source, key });
  }
  if (stale.length === 0) return paths;
  checkToolchain(toolchain);
  const build = async ({ spec, source, key }: (typeof stale)[number]) => {
    const binary = paths.get(spec.file)!;
    writeFileSync(`${binary}.cc`, source);
    const started = performance.now();
    await timedRun([Bun.which("g++", { PATH: toolchain.path })!, "-o", binary, `${binary}.cc`, ...COMPILE_FLAGS], { timeoutMs: COMPILE_TIMEOUT_MS });
    writeFileSync(`${binary}.key`, key);
    console.log(`bench: built ${spec.file} (${spec.cases.length} cases) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  };
  for (let i = 0; i < stale.length; i += 2) await Promise.all(stale.slice(i, i + 2).map(build));
  return paths;
}

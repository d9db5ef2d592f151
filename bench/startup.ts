/**
 * `bun bench/startup.ts [--runs N]`: start-up time of the compiled binary
 * built with and without `--bytecode` (both `--format=esm`), the choice
 * scripts/build.ts makes. Times `dt --version` and `dt archive --help`, each
 * N times per variant interleaved, and prints medians and the ratio.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 30;
const root = new URL("..", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "dt-startup-"));

function build(bytecode: boolean): string {
  const out = join(work, bytecode ? "dt-bytecode" : "dt-plain");
  const flags = ["--compile", "--splitting", "--format=esm", "--minify-syntax", "--minify-whitespace", ...(bytecode ? ["--bytecode"] : [])];
  const result = Bun.spawnSync(["bun", "build", ...flags, "--define", 'DT_BUILD_COMMIT="startup-bench"', "src/main.ts", "src/isolate/archive/hash-worker.ts", "--outfile", out], { cwd: root, stdout: "ignore", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`build failed: ${result.stderr}`);
  return out;
}

function timeMs(cmd: string[]): number {
  const start = performance.now();
  const result = Bun.spawnSync(cmd, { stdout: "ignore", stderr: "ignore" });
  if (result.exitCode !== 0) throw new Error(`${cmd.join(" ")} exited ${result.exitCode}`);
  return performance.now() - start;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  const variants = { bytecode: build(true), plain: build(false) };
  console.log(`dt start-up, ${runs} runs each, interleaved; medians in ms\n`);
  console.log("| command | --bytecode | without | ratio (without ÷ bytecode) |");
  console.log("|---|---|---|---|");
  for (const args of [["--version"], ["archive", "--help"]]) {
    const times: Record<string, number[]> = { bytecode: [], plain: [] };
    for (let i = 0; i < runs; i++) {
      for (const [name, binary] of Object.entries(variants)) times[name]!.push(timeMs([binary, ...args]));
    }
    const b = median(times.bytecode!);
    const p = median(times.plain!);
    console.log(`| dt ${args.join(" ")} | ${b.toFixed(1)} | ${p.toFixed(1)} | ${(p / b).toFixed(2)} |`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

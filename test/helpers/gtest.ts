/**
 * dt's sample gtest binary (test/fixtures/gtest/, built by
 * scripts/services/gtest.sh, named by DT_TEST_GTEST_BIN) and what the binary
 * itself says about a run, which the tests hold dt's results against: its
 * case list (`--gtest_list_tests`) and its own summary lines.
 *
 * @example
 *   const bin = gtestBin(); // null when DT_TEST_GTEST_BIN is unset; gtestBinMissing() says why
 *   const run = await runGtest(bin!, { dir: await temps.make(), xml: true });
 *   gtestSummary(run.stdout).failed; // ["MathTest.FailsOnPurpose", …]
 */
import { accessSync, constants, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { CaseResult, CaseStatus } from "../../src/results/model.ts";

/** Why the tests that need the binary cannot run, or undefined when they can. */
export function gtestBinMissing(): string | undefined {
  const bin = process.env.DT_TEST_GTEST_BIN;
  if (!bin) return "DT_TEST_GTEST_BIN is not set (build the sample with `bash scripts/services/gtest.sh` and export its last line)";
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    return `DT_TEST_GTEST_BIN=${bin} is not an executable file (rebuild it with bash scripts/services/gtest.sh)`;
  }
  return undefined;
}

/** The binary's absolute path (the tests run it from temporary directories), or null when gtestBinMissing() has a reason. */
export const gtestBin = (): string | null => (gtestBinMissing() ? null : resolve(process.env.DT_TEST_GTEST_BIN!));

/** `Suite.Case`, the identity dt and gtest's own lines share (`SizeTest/1.ExactlyOne`, `Small/ParityTest.IsEven/1`). */
export const caseKey = (c: Pick<CaseResult, "suite" | "name">): string => `${c.suite}.${c.name}`;

/** Identity → status, for comparing runs; throws on a case seen twice (every case must be reported exactly once). */
export function statusMap(cases: readonly CaseResult[]): Map<string, CaseStatus> {
  const map = new Map<string, CaseStatus>();
  for (const c of cases) {
    if (map.has(caseKey(c))) throw new Error(`${caseKey(c)} is reported twice`);
    map.set(caseKey(c), c.status);
  }
  return map;
}

/**
 * The cases `--gtest_list_tests` names, in the order the binary runs them,
 * without the disabled ones (gtest runs none of them, and dt counts them as
 * no case). Its lines are `Suite.` (maybe `  # TypeParam = int`) and
 * `  Case` (maybe `  # GetParam() = 3`).
 */
export function parseTestList(text: string): string[] {
  const keys: string[] = [];
  let suite: string | null = null;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\s+#.*$/, "").trimEnd();
    if (!line || line.startsWith("Running main()")) continue;
    if (!line.startsWith(" ")) {
      if (!line.endsWith(".")) throw new Error(`--gtest_list_tests: cannot read the suite line ${JSON.stringify(raw)}`);
      suite = line.slice(0, -1);
    } else {
      if (suite === null) throw new Error(`--gtest_list_tests: a case before any suite: ${JSON.stringify(raw)}`);
      const name = line.trim();
      if (!suite.startsWith("DISABLED_") && !name.startsWith("DISABLED_")) keys.push(`${suite}.${name}`);
    }
  }
  return keys;
}

/** What gtest's own summary after `[==========] N tests from M test suites ran.` says. */
export interface GtestSummary {
  ran: number;
  /** `[  PASSED  ] N tests.`: gtest counts the passed ones but does not name them. */
  passedCount: number;
  /** The names under `[  FAILED  ] N tests, listed below:`, without `, where …`. */
  failed: string[];
  skipped: string[];
}

/** Reads gtest's summary lines; throws when the output has none (the binary died before its end). */
export function gtestSummary(stdout: string): GtestSummary {
  const lines = stdout.split("\n").map((l) => l.trimEnd());
  const start = lines.findIndex((l) => /^\[==========\] \d+ tests? from \d+ test suites? ran\./.test(l));
  if (start === -1) throw new Error(`no "[==========] N tests from M test suites ran." line in the output:\n${stdout.slice(-2000)}`);
  const ran = Number(/(\d+) tests?/.exec(lines[start]!)![1]);
  const summary: GtestSummary = { ran, passedCount: 0, failed: [], skipped: [] };
  for (const line of lines.slice(start + 1)) {
    const passed = /^\[ {2}PASSED {2}\] (\d+) tests?\.$/.exec(line);
    if (passed) summary.passedCount = Number(passed[1]);
    const named = /^\[ {2}(FAILED|SKIPPED) {1,2}\] ([^\s,]+)(?:, where .*)?$/.exec(line);
    if (named && !/^\d+$/.test(named[2]!)) (named[1] === "FAILED" ? summary.failed : summary.skipped).push(named[2]!);
  }
  return summary;
}

/**
 * The statuses gtest's summary gives the listed cases: failed and skipped
 * as it names them, passed for the rest (whose number must be its PASSED
 * count, else the summary and the list disagree and this throws).
 */
export function expectedStatuses(listed: readonly string[], summary: GtestSummary): Map<string, CaseStatus> {
  const expected = new Map<string, CaseStatus>();
  for (const key of listed) expected.set(key, summary.failed.includes(key) ? "failed" : summary.skipped.includes(key) ? "skipped" : "passed");
  const passed = [...expected.values()].filter((s) => s === "passed").length;
  if (passed !== summary.passedCount || listed.length !== summary.ran) {
    throw new Error(`gtest's summary (${summary.ran} ran, ${summary.passedCount} passed) does not match the ${listed.length} listed cases (${passed} not named failed or skipped)`);
  }
  return expected;
}

export interface GtestRun {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  /** stdout as a file, for readResults' stdoutLog. */
  stdoutPath: string;
  /** Where `--gtest_output=xml:DIR/` wrote (DIR/outputs), when asked for XML. */
  outputsDir: string;
}

/** Runs the binary in `dir` (stdout to DIR/stdout.txt, XML into DIR/outputs/ when `xml`), with extra env (shards, DT_SAMPLE_ABORT). */
export async function runGtest(bin: string, options: { dir: string; xml: boolean; env?: Record<string, string>; args?: string[] }): Promise<GtestRun> {
  const outputsDir = join(options.dir, "outputs");
  const stdoutPath = join(options.dir, "stdout.txt");
  // Made beforehand, as run-isolated makes ISOLATED_OUTDIR: gtest makes it only when it writes its report.
  mkdirSync(outputsDir, { recursive: true });
  const args = [...(options.xml ? [`--gtest_output=xml:${outputsDir}/`] : []), ...(options.args ?? [])];
  // The binary's environment from scratch: a GTEST_* variable of the shell running the tests must not shard or filter it.
  const child = Bun.spawn([bin, ...args], {
    cwd: options.dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...options.env },
    stdin: "ignore",
    stdout: Bun.file(stdoutPath),
    stderr: "pipe",
  });
  // 30 s: the suite runs in milliseconds; a hang is a broken build, reported rather than waited out.
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const [exitCode] = await Promise.all([child.exited, new Response(child.stderr).text()]);
  clearTimeout(timer);
  const signal = child.signalCode == null ? null : String(child.signalCode);
  return { exitCode: signal ? null : exitCode, signal, stdout: await Bun.file(stdoutPath).text(), stdoutPath, outputsDir };
}

/** `bin --gtest_list_tests`, parsed; with `env` (GTEST_FILTER) as a run would see it. */
export async function listTests(bin: string, env: Record<string, string> = {}): Promise<string[]> {
  const child = Bun.spawn([bin, "--gtest_list_tests"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  const [text, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
  if (code !== 0) throw new Error(`${bin} --gtest_list_tests exited ${code}`);
  return parseTestList(text);
}

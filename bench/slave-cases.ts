/**
 * `bun bench/slave-cases.ts [--cases N] [--runs N]`
 *
 * The slave's extra CPU for an attempt's test cases: reading them after the
 * command (result files, gtest's stdout), holding them to the wire's
 * bounds, and building and serializing the result report. Two attempts of
 * N cases (100,000 by default; 1 in 10 failing with a message), run through
 * run-isolated in this process as a slave runs them:
 *   - gtest-stdout: the command prints gtest's console output for N cases;
 *   - junit-xml: the command copies a JUnit report of N cases into
 *     ISOLATED_OUTDIR (and prints nothing).
 * Each is run `--runs` times with the cases read and reported, and as many
 * times without (the same attempt, no results option, the report without
 * cases: the baseline), alternating. Both upload the outputs to a CAS as a
 * slave does (served in this process; identical outputs cost a /missing
 * call after the first run). CPU is this process's (user + system; the
 * command's own CPU is its child's, not counted). Prints the median of each,
 * the extra CPU per 1,000 cases, the ratio to the baseline, and how the
 * extra splits: reading the cases (run-isolated's results phase, wall
 * time) and building and serializing the report.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../src/common/clock.ts";
import { createLogger } from "../src/common/log.ts";
import { archiveTargets, targetFromPaths } from "../src/isolate/archive/archive.ts";
import { DEFAULT_CACHE_LIMITS } from "../src/isolate/cache/local-cache.ts";
import { CasClient } from "../src/isolate/cas/client.ts";
import { FsBlobStore } from "../src/isolate/cas/fs-blob-store.ts";
import { IsolateServer } from "../src/isolate/cas/isolate-server.ts";
import { DEFAULT_MAX_OUTPUTS_BYTES, DEFAULT_MAX_OUTPUTS_FILES } from "../src/isolate/outputs/upload-outputs.ts";
import { runIsolated } from "../src/isolate/run/run-isolated.ts";
import { DEFAULT_RESULT_GLOBS } from "../src/results/collect.ts";
import { withCases } from "../src/slave/case-report.ts";

function parseArgs(argv: string[]): { cases: number; runs: number } {
  const options = { cases: 100_000, runs: 3 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = Number(inline ?? argv[++i]);
    if (flag === "--cases") options.cases = value;
    else if (flag === "--runs") options.runs = value;
    else fail(`unknown flag ${flag}; usage: bun bench/slave-cases.ts [--cases N] [--runs N]`);
  }
  for (const [name, v] of Object.entries(options)) if (!Number.isInteger(v) || v < 1) fail(`--${name} must be a positive integer`);
  return options;
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

async function writeGtestStdout(path: string, cases: number): Promise<void> {
  const out = Bun.file(path).writer({ highWaterMark: 1 << 20 });
  out.write(`[==========] Running ${cases} tests from ${Math.ceil(cases / 100)} test suites.\n`);
  for (let i = 0; i < cases; i++) {
    const name = `Suite${Math.floor(i / 100)}.Case${i % 100}`;
    out.write(`[ RUN      ] ${name}\n`);
    if (i % 10 === 3) out.write(`foo_test.cc:${i % 1000}: Failure\nExpected equality of these values:\n  1\n  2\n[  FAILED  ] ${name} (${i % 7} ms)\n`);
    else out.write(`[       OK ] ${name} (${i % 7} ms)\n`);
    if (i % 1000 === 999) await out.flush();
  }
  out.write(`[==========] ${cases} tests from ${Math.ceil(cases / 100)} test suites ran. (1234 ms total)\n`);
  await out.end();
}

async function writeJunit(path: string, cases: number): Promise<void> {
  const out = Bun.file(path).writer({ highWaterMark: 1 << 20 });
  out.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n');
  for (let s = 0; s * 100 < cases; s++) {
    out.write(`<testsuite name="com.example.Suite${s}" tests="100">\n`);
    for (let c = 0; c < 100 && s * 100 + c < cases; c++) {
      const open = `<testcase classname="com.example.Suite${s}" name="case${c}" time="0.0${c % 10}3"`;
      if (c % 10 === 3) out.write(`${open}><failure message="expected &lt;1&gt; but was &lt;2&gt;" type="java.lang.AssertionError">java.lang.AssertionError: expected:&lt;1&gt; but was:&lt;2&gt;\n\tat com.example.Suite${s}.case${c}(Suite${s}.java:${c + 10})\n</failure></testcase>\n`);
      else out.write(`${open}/>\n`);
    }
    out.write("</testsuite>\n");
    await out.flush();
  }
  out.write("</testsuites>\n");
  await out.end();
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const { cases, runs } = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), "dt-bench-slave-cases-"));
  const log = createLogger({ level: "silent" });
  const store = await FsBlobStore.open(join(dir, "cas"), systemClock);
  const cas = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: new IsolateServer({ store, log, clock: systemClock }).app.fetch });
  try {
    const casUrl = `http://127.0.0.1:${cas.port}`;
    const tree = join(dir, "tree");
    mkdirSync(tree);
    await writeGtestStdout(join(tree, "gtest.txt"), cases);
    await writeJunit(join(tree, "junit.xml"), cases);
    const archive = async (command: string[]) =>
      (await archiveTargets([targetFromPaths({ root: tree, paths: ["gtest.txt", "junit.xml"], command })], { cas: new CasClient(casUrl), log })).results[0]!.digest.hash;
    const attempts = {
      "gtest-stdout": await archive(["/bin/cat", "gtest.txt"]),
      "junit-xml": await archive(["/bin/sh", "-c", 'cp junit.xml "$ISOLATED_OUTDIR/TEST-all.xml"']),
    };
    const attempt = async (hash: string, withResults: boolean) => {
      const before = cpuMs();
      const result = await runIsolated({
        hash, cas: new CasClient(casUrl), cacheDir: join(dir, "cache"), cacheLimits: DEFAULT_CACHE_LIMITS, rootDir: join(dir, "runs"), leakTempDir: false,
        timeoutSec: 0, gracePeriodSec: 5, env: {}, baseEnv: { PATH: "/usr/bin:/bin" }, logDir: join(dir, "logs"), extraArgs: [], log, clock: systemClock,
        outputs: { limits: { maxBytes: DEFAULT_MAX_OUTPUTS_BYTES, maxFiles: DEFAULT_MAX_OUTPUTS_FILES }, capName: "--max-outputs-size 1GiB" },
        ...(withResults ? { results: { globs: DEFAULT_RESULT_GLOBS } } : {}),
      });
      const reportStart = performance.now();
      const state = result.exit_code === 0 ? "SUCCEEDED" : "FAILED";
      const { fields, message } = withCases(state, null, result.results);
      // As MasterClient sends it.
      const body = JSON.stringify({ lease_id: "l", state, exit_code: result.exit_code, message, ...fields });
      const reportMs = performance.now() - reportStart;
      const spent = cpuMs() - before;
      if (result.exit_code !== 0 || result.internal_failure) throw new Error(`the attempt failed: ${JSON.stringify(result)}`);
      return { spent, readMs: result.phases_ms.results, reportMs, reported: fields.cases?.length ?? 0, bodyBytes: body.length };
    };
    console.log(`slave CPU per attempt of ${cases.toLocaleString("en")} cases (median of ${runs}; this process only, user+system)`);
    for (const [format, hash] of Object.entries(attempts)) {
      await attempt(hash, false); // warm: the tree in the cache, the code compiled
      const withCpu: number[] = [];
      const withoutCpu: number[] = [];
      const readMs: number[] = [];
      const reportMs: number[] = [];
      let reported = 0;
      let bodyBytes = 0;
      for (let i = 0; i < runs; i++) {
        withoutCpu.push((await attempt(hash, false)).spent);
        const r = await attempt(hash, true);
        withCpu.push(r.spent);
        readMs.push(r.readMs);
        reportMs.push(r.reportMs);
        reported = r.reported;
        bodyBytes = r.bodyBytes;
      }
      if (reported !== cases) throw new Error(`${format}: ${reported} cases reported, ${cases} expected`);
      const w = median(withCpu);
      const wo = median(withoutCpu);
      console.log(
        `${format.padEnd(13)} without results ${wo.toFixed(0).padStart(6)} ms  with ${w.toFixed(0).padStart(6)} ms  ratio ${(w / wo).toFixed(2)}x  ` +
          `extra ${((w - wo) / (cases / 1000)).toFixed(2)} ms per 1,000 cases  report ${(bodyBytes / 2 ** 20).toFixed(1)} MiB ` +
          `(reading ${median(readMs).toFixed(0)} ms, report building ${median(reportMs).toFixed(0)} ms wall)`,
      );
    }
  } finally {
    await cas.stop(true);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

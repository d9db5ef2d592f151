/**
 * `bun bench/results-parse.ts [--cases N] [--big-mib N] [--runs N]`
 *
 * How fast dt reads a JUnit report, against libxml2's streaming reader
 * (`xmllint --stream --noout`, Debian's libxml2-utils) on the same file in
 * the same run, and how much memory a 200 MB report costs. Generates, in a
 * temp dir:
 *   - a report of N cases (100,000 by default; 1 in 10 failing with a
 *     message, a stack and system-out), parsed by both, `--runs` times,
 *     alternating;
 *   - two reports of --big-mib MiB (200 by default): many cases each with
 *     2 KiB of system-out, and one case whose failure body is the whole file.
 * Every parse runs in a child process under /usr/bin/time, which reports its
 * peak RSS; a child that only loads the parser is the RSS baseline.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

interface Options {
  cases: number;
  bigMib: number;
  runs: number;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { cases: 100_000, bigMib: 200, runs: 3 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => Number(inline ?? argv[++i] ?? fail(`${flag} needs a value`));
    if (flag === "--cases") options.cases = value();
    else if (flag === "--big-mib") options.bigMib = value();
    else if (flag === "--runs") options.runs = value();
    else fail(`unknown flag ${flag}; usage: bun bench/results-parse.ts [--cases N] [--big-mib N] [--runs N]`);
  }
  for (const [name, v] of Object.entries(options)) if (!Number.isInteger(v) || v < 1) fail(`--${name} must be a positive integer`);
  return options;
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

/** Writes a report of `cases` cases; `outputBytes` of system-out on every case, or one failure body of `hugeBodyBytes`. */
async function writeReport(path: string, cases: number, extra: { outputBytes?: number; hugeBodyBytes?: number } = {}): Promise<number> {
  const out = Bun.file(path).writer({ highWaterMark: 1 << 20 });
  out.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n');
  const output = extra.outputBytes ? `<system-out><![CDATA[${"log line & <noise>\n".repeat(Math.ceil(extra.outputBytes / 19)).slice(0, extra.outputBytes)}]]></system-out>` : "";
  const perSuite = 100;
  for (let s = 0; s * perSuite < cases; s++) {
    out.write(`<testsuite name="com.example.Suite${s}" tests="${perSuite}">\n`);
    for (let c = 0; c < perSuite && s * perSuite + c < cases; c++) {
      const open = `<testcase classname="com.example.Suite${s}" name="case${c}" time="0.0${c % 10}3"`;
      if (c % 10 === 3) out.write(`${open}><failure message="expected &lt;1&gt; but was &lt;2&gt;" type="java.lang.AssertionError">java.lang.AssertionError: expected:&lt;1&gt; but was:&lt;2&gt;\n\tat com.example.Suite${s}.case${c}(Suite${s}.java:${c + 10})\n</failure>${output}</testcase>\n`);
      else out.write(output ? `${open}>${output}</testcase>\n` : `${open}/>\n`);
    }
    out.write("</testsuite>\n");
    await out.flush();
  }
  if (extra.hugeBodyBytes) {
    out.write('<testsuite name="huge"><testcase classname="huge" name="body"><failure message="big">');
    const piece = "x".repeat(1 << 20);
    for (let written = 0; written < extra.hugeBodyBytes; written += piece.length) {
      out.write(piece);
      await out.flush();
    }
    out.write("</failure></testcase></testsuite>\n");
  }
  out.write("</testsuites>\n");
  await out.end();
  return Bun.file(path).size;
}

interface ChildRun {
  wallMs: number;
  maxRssMiB: number;
  stdout: string;
}

/** Runs `cmd` under GNU time, which reports the child's own peak RSS (rusage maxrss, KiB). */
async function runChild(cmd: string[]): Promise<ChildRun> {
  const started = performance.now();
  const proc = Bun.spawn(["/usr/bin/time", "-f", "maxrss_kib=%M", ...cmd], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const wallMs = performance.now() - started;
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${stderr.slice(0, 500)}`);
  const rss = /maxrss_kib=(\d+)/.exec(stderr);
  if (!rss) throw new Error(`no maxrss from /usr/bin/time for ${cmd.join(" ")}: ${stderr.slice(-300)}`);
  return { wallMs, maxRssMiB: Number(rss[1]) / 1024, stdout };
}

const CHILD = join(import.meta.dir, "results-parse-child.ts");
const dtParse = (path: string) => runChild([process.execPath, CHILD, path]);
// --huge: without it libxml2 refuses a text node over 10 MB, which the big reports have.
const xmllint = (path: string) => runChild(["xmllint", "--stream", "--noout", "--huge", path]);

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (!Bun.which("xmllint")) fail("xmllint is not installed (apt-get install libxml2-utils)");
  if (!(await Bun.file("/usr/bin/time").exists())) fail("/usr/bin/time is not installed (apt-get install time)");
  const dir = mkdtempSync(join(tmpdir(), "dt-bench-results-"));
  try {
    const small = join(dir, "cases.xml");
    const smallBytes = await writeReport(small, options.cases);
    console.log(`${fmt(options.cases)}-case report: ${(smallBytes / 2 ** 20).toFixed(1)} MiB; ${options.runs} runs each, alternating`);
    const dtRuns: { parseMs: number; wallMs: number; rss: number }[] = [];
    const xmlRuns: ChildRun[] = [];
    for (let run = 0; run < options.runs; run++) {
      const dt = await dtParse(small);
      const answer = JSON.parse(dt.stdout) as { cases: number; parseMs: number; notes: string[] };
      if (answer.cases !== options.cases || answer.notes.length > 0) throw new Error(`dt read ${answer.cases} cases, notes ${answer.notes.join("; ")}`);
      dtRuns.push({ parseMs: answer.parseMs, wallMs: dt.wallMs, rss: dt.maxRssMiB });
      xmlRuns.push(await xmllint(small));
    }
    const dtParseMs = median(dtRuns.map((r) => r.parseMs));
    const dtWallMs = median(dtRuns.map((r) => r.wallMs));
    const xmlWallMs = median(xmlRuns.map((r) => r.wallMs));
    const baseline = await runChild([process.execPath, CHILD, "--baseline"]);
    console.log("\n| reader | median time | cases/s | ratio to xmllint | peak RSS |");
    console.log("|---|---|---|---|---|");
    console.log(`| xmllint --stream --noout --huge (process) | ${fmt(xmlWallMs)} ms | ${fmt(options.cases / (xmlWallMs / 1000))} | 1.00 | ${fmt(median(xmlRuns.map((r) => r.maxRssMiB)))} MiB |`);
    console.log(`| dt junitXmlParser (process) | ${fmt(dtWallMs)} ms | ${fmt(options.cases / (dtWallMs / 1000))} | ${(xmlWallMs / dtWallMs).toFixed(2)} | ${fmt(median(dtRuns.map((r) => r.rss)))} MiB |`);
    console.log(`| dt junitXmlParser (parse only) | ${fmt(dtParseMs)} ms | ${fmt(options.cases / (dtParseMs / 1000))} | ${(xmlWallMs / dtParseMs).toFixed(2)} | |`);
    console.log(`| bun child loading the parser, no parse | ${fmt(baseline.wallMs)} ms | | | ${fmt(baseline.maxRssMiB)} MiB |`);

    const bigCases = Math.floor((options.bigMib * 2 ** 20) / 2_300);
    const manyOutputs = join(dir, "big-outputs.xml");
    const manyBytes = await writeReport(manyOutputs, bigCases, { outputBytes: 2048 });
    const hugeBody = join(dir, "big-body.xml");
    const hugeBytes = await writeReport(hugeBody, 100, { hugeBodyBytes: options.bigMib * 2 ** 20 });
    console.log("\n| big report | size | dt time | dt peak RSS | xmllint time | xmllint peak RSS | cases read | notes |");
    console.log("|---|---|---|---|---|---|---|---|");
    for (const [name, path, bytes] of [[`${fmt(bigCases)} cases with 2 KiB system-out each`, manyOutputs, manyBytes], ["one failure body of the whole size", hugeBody, hugeBytes]] as const) {
      const dt = await dtParse(path);
      const answer = JSON.parse(dt.stdout) as { cases: number; parseMs: number; notes: string[] };
      const xml = await xmllint(path);
      console.log(`| ${name} | ${fmt(bytes / 2 ** 20)} MiB | ${fmt(dt.wallMs)} ms | ${fmt(dt.maxRssMiB)} MiB | ${fmt(xml.wallMs)} ms | ${fmt(xml.maxRssMiB)} MiB | ${fmt(answer.cases)} | ${answer.notes.length === 0 ? "none" : answer.notes.join("; ")} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

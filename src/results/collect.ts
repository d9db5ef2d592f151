/**
 * An attempt's cases from what its command left: the result files in its
 * outputs directory (picked by globs, their format told by their root
 * element) and its stdout log, read with gtest's console parser. A case in
 * both a result file and stdout (a gtest binary run with
 * --gtest_output=xml) is taken from the file; stdout adds the cases no file
 * has, which is all of them when the binary wrote none (it crashed, or it
 * was never asked to).
 *
 * @example
 *   const results = await readResults({ outputsDir: "/slave/run/3/outdir", stdoutLog: "/slave/run/3/stdout.log", signal: "SIGSEGV" });
 *   results.cases; // CaseResult[] for the report
 *   results.notes; // "…/TEST-x.xml: the file ends inside <testsuite><testcase> (truncated…"
 */
import { closeSync, fstatSync, readlinkSync, realpathSync } from "node:fs";
import { join, normalize, sep } from "node:path";
import { openNoFollow } from "../common/open-no-follow.ts";
import { pathOfFd } from "../isolate/outputs/open-checked.ts";
import { gtestStdoutParser } from "./gtest-stdout.ts";
import { gtestXmlParser, junitXmlParser } from "./junit-xml.ts";
import type { CaseResult, ParseOutcome, ResultFormat } from "./model.ts";
import { describeProblem, type ParseOptions, readHead, type ResultParser } from "./parser.ts";

/** Result files are looked for with these globs when the task names none (issue 13: `**\/*.xml` in the outputs). */
export const DEFAULT_RESULT_GLOBS: readonly string[] = ["**/*.xml"];

/** At most this many result files per attempt: a test that writes 100,000 XML files has no one report to read. */
export const MAX_RESULT_FILES = 1_000;

/** Cases per attempt, over all its files: the same bound as one file, so many small files cost no more than one big one. */
export const MAX_CASES_PER_ATTEMPT = 200_000;

/**
 * Bytes of result files read per attempt, over all its files. The parse
 * costs ~3 bytes of memory and ~20 ns per byte read (a 500 MB report of
 * 100,000 failed cases took 1.4 GB and 11 s), and no real report comes near
 * (googletest's own suite writes ~300 KB): past this the rest is a test
 * filling its outputs, not a report to read.
 */
export const MAX_RESULT_BYTES = 128 * 2 ** 20;

/** Notes per attempt over all its files: what went wrong, not a log. */
export const MAX_ATTEMPT_NOTES = 50;

/** The XML parsers, in the order `detect` is asked: gtest's root is a special testsuites. */
const FILE_PARSERS: readonly ResultParser[] = [gtestXmlParser, junitXmlParser];

/** Every parser, for the conformance suite and for callers that pick by format. */
export const RESULT_PARSERS: Readonly<Record<ResultFormat, ResultParser>> = { "gtest-xml": gtestXmlParser, "junit-xml": junitXmlParser, "gtest-stdout": gtestStdoutParser };

export interface ReadResultsOptions extends ParseOptions {
  /** The attempt's ISOLATED_OUTDIR after the command; null when it has none. */
  outputsDir: string | null;
  /** Globs relative to outputsDir (the task's `result_globs`); default DEFAULT_RESULT_GLOBS. */
  resultGlobs?: readonly string[];
  /** The attempt's stdout log on disk; null when there is none. */
  stdoutLog: string | null;
  /** Bytes of result files read, over all of them; default MAX_RESULT_BYTES. */
  maxResultBytes?: number;
}

/** One report that gave cases or notes. */
export interface ResultSourceSummary {
  /** Relative to the outputs dir, or "stdout". */
  path: string;
  format: ResultFormat;
  cases: number;
}

export interface AttemptResults {
  cases: CaseResult[];
  /** Each note starts with the file it is about. */
  notes: string[];
  sources: ResultSourceSummary[];
}

const identity = (c: CaseResult) => `${c.suite}\u0000${c.name}`;

/** A glob must stay inside the outputs: no absolute path, no `..`. */
function checkGlob(glob: string): string | null {
  if (glob.startsWith("/") || glob.split(/[\\/]/).includes("..")) return `result glob ${JSON.stringify(glob)} is ignored: it must be relative to the outputs and must not contain ".."`;
  return null;
}

/** The regular files under `dir` matching `globs`, sorted, at most MAX_RESULT_FILES (symlinks are not followed). */
async function findResultFiles(dir: string, globs: readonly string[], notes: string[]): Promise<string[]> {
  const found = new Set<string>();
  for (const pattern of globs) {
    const problem = checkGlob(pattern);
    if (problem) {
      notes.push(problem);
      continue;
    }
    try {
      for await (const path of new Bun.Glob(pattern).scan({ cwd: dir, onlyFiles: true, followSymlinks: false, dot: true })) {
        const rel = normalize(path);
        if (rel.startsWith("..")) continue;
        found.add(rel);
        if (found.size > MAX_RESULT_FILES) break;
      }
    } catch (err) {
      notes.push(`result glob ${JSON.stringify(pattern)}: ${describeProblem(err)}`);
    }
  }
  const files = [...found].sort();
  if (files.length > MAX_RESULT_FILES) notes.push(`more than ${MAX_RESULT_FILES} files match the result globs; only the first ${MAX_RESULT_FILES} (by name) are read`);
  return files.slice(0, MAX_RESULT_FILES);
}

/**
 * Opens a result file only if it is a regular file inside `realRoot`; null
 * otherwise. A glob such as `link/*.xml` goes through a symlinked directory,
 * and a process of the test that outlived it can swap a file (or a parent
 * directory) for a symlink or a fifo after the glob saw it: so no following
 * the last component, no blocking on a fifo, and the open file's own path
 * (/proc/self/fd) must lie under the outputs.
 */
function openResultFile(path: string, realRoot: string): number | null {
  let opened: ReturnType<typeof openNoFollow>;
  try {
    opened = openNoFollow(path);
  } catch {
    return null;
  }
  const { fd, stat } = opened;
  if (!stat.isFile()) {
    closeSync(fd);
    return null;
  }
  const fdPath = pathOfFd(fd, path);
  if (!(fdPath === path ? realpathSync(path) : readlinkSync(fdPath)).startsWith(realRoot + sep)) {
    closeSync(fd);
    throw new Error("it lies outside the outputs (reached through a symlinked directory); not read");
  }
  return fd;
}

/** A parse of one file and the bytes of it that were read. */
interface FileParse {
  outcome: ParseOutcome;
  bytesRead: number;
  size: number;
}

/**
 * Parses one file with the parser its head names, reading at most
 * `maxBytes` of it; null when it is no test report (any other XML is an
 * output like another).
 */
async function parseFile(path: string, realRoot: string, maxBytes: number, options: ParseOptions): Promise<FileParse | null> {
  const fd = openResultFile(path, realRoot);
  if (fd === null) return null;
  try {
    // Read through the fd's own path: the file checked, whatever is at its name now.
    const readable = pathOfFd(fd, path);
    const file = Bun.file(readable);
    const head = await readHead(readable);
    const parser = FILE_PARSERS.find((p) => p.detect(head));
    if (!parser) return null;
    const size = fstatSync(fd).size;
    const bytesRead = Math.min(size, maxBytes);
    return { outcome: await parser.parse(file.slice(0, bytesRead).stream(), options), bytesRead, size };
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads every result file and the stdout log; never rejects (an unreadable
 * file is a note). Cases from files come first, in file-name order, then the
 * stdout cases no file has.
 */
export async function readResults(options: ReadResultsOptions): Promise<AttemptResults> {
  const notes: string[] = [];
  const sources: ResultSourceSummary[] = [];
  const fromFiles: CaseResult[] = [];
  const budget = () => ({ ...options, maxCases: Math.max(0, (options.maxCases ?? MAX_CASES_PER_ATTEMPT) - fromFiles.length) });
  if (options.outputsDir) {
    const outputsDir = options.outputsDir;
    let realRoot = outputsDir;
    try {
      realRoot = realpathSync(outputsDir);
    } catch {
      // Missing or unreadable: the globs below say so in their notes.
    }
    let bytesLeft = options.maxResultBytes ?? MAX_RESULT_BYTES;
    const files = await findResultFiles(outputsDir, options.resultGlobs ?? DEFAULT_RESULT_GLOBS, notes);
    for (const [i, rel] of files.entries()) {
      if (bytesLeft === 0) {
        notes.push(`${files.length - i} result files (from ${rel}) were not read: the attempt's result files are read up to ${options.maxResultBytes ?? MAX_RESULT_BYTES} bytes`);
        break;
      }
      try {
        const parsed = await parseFile(join(outputsDir, rel), realRoot, bytesLeft, budget());
        if (!parsed) continue;
        const { outcome } = parsed;
        bytesLeft -= parsed.bytesRead;
        sources.push({ path: rel, format: outcome.format, cases: outcome.cases.length });
        fromFiles.push(...outcome.cases);
        if (parsed.bytesRead < parsed.size) {
          notes.push(`${rel}: only its first ${parsed.bytesRead} of ${parsed.size} bytes were read (the attempt's result files are read up to ${options.maxResultBytes ?? MAX_RESULT_BYTES} bytes); the cases before that point are kept`);
        }
        for (const note of outcome.notes) notes.push(`${rel}: ${note}`);
      } catch (err) {
        notes.push(`${rel}: could not be read: ${describeProblem(err)}`);
      }
    }
  }
  const cases = [...fromFiles];
  if (options.stdoutLog) {
    const seen = new Set(fromFiles.map(identity));
    try {
      const outcome = await gtestStdoutParser.parse(options.stdoutLog, budget());
      const added = outcome.cases.filter((c) => !seen.has(identity(c)));
      if (outcome.cases.length > 0 || outcome.notes.length > 0) sources.push({ path: "stdout", format: "gtest-stdout", cases: added.length });
      cases.push(...added);
      for (const note of outcome.notes) notes.push(`stdout: ${note}`);
    } catch (err) {
      notes.push(`stdout: could not be read: ${describeProblem(err)}`);
    }
  }
  return { cases, notes: notes.length > MAX_ATTEMPT_NOTES ? [...notes.slice(0, MAX_ATTEMPT_NOTES), `… and ${notes.length - MAX_ATTEMPT_NOTES} more notes`] : notes, sources };
}

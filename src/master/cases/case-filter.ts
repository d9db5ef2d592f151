/**
 * Telling a test runner which of its cases to run: the shard planner gives
 * an auto shard its cases this way, and a retry only the cases that failed.
 *
 * A selection names cases (suite and name, as the slaves report them) to run
 * (`include`) or to leave out (`exclude`: every other case runs, so a case
 * added since the history was read is never skipped). A filter spec says how
 * the runner takes it. Without one the runner is googletest: GTEST_FILTER in
 * the environment, so the command line stays the manifest's.
 */
import { DtError } from "../../common/errors.ts";
import { fieldPath } from "../../common/strict-json.ts";

/** One test case by its identity within a binary. */
export interface CaseName {
  suite: string;
  name: string;
}

/** Which cases an attempt runs; null (where one is optional) runs them all. */
export type CaseSelection = { include: CaseName[] } | { exclude: CaseName[] };

/**
 * How a runner that is not googletest takes a filter (a task's
 * `case_filter`). `{cases}` in a template is the cases joined by
 * `separator`; `{case}` in an `arg` template makes one argument per case
 * (pytest's node ids). Each case is written by `case` from `{suite}` and
 * `{name}`. `exclude`, the same kind of template, says how to leave cases
 * out; a runner without it cannot take an exclusion (auto shards refuse it,
 * a retry after a crash reruns the whole task).
 */
export interface CaseFilterSpec {
  via: "env" | "arg";
  /** The variable's name (env) or the argument's template (arg). */
  target: string;
  separator: string;
  /** How one case is written; default `{suite}.{name}`. */
  format: string;
  /** Template of an exclusion: for env the variable's value, for arg the argument; null when the runner has none. */
  exclude: string | null;
}

/**
 * Bytes a filter may take in one environment variable or argument. Linux
 * refuses one execve string past MAX_ARG_STRLEN (128 KiB, `NAME=` included)
 * with E2BIG, which would fail the attempt at spawn.
 */
export const MAX_FILTER_BYTES = 100_000;
/** Bytes all of a filter's arguments may take together: ARG_MAX is 2 MiB with the default 8 MiB stack, and the environment shares it. */
export const MAX_FILTER_ARGS_BYTES = 1_000_000;

/** The environment variables numeric sharding sets: a filtered attempt drops them, or gtest would shard the filtered set again. */
export const NUMERIC_SHARD_ENV = ["GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS"] as const;

/** What the lease adds to a task's environment and command line to apply a selection. */
export interface RenderedFilter {
  env: Record<string, string>;
  /** Variables to remove from the task's environment. */
  dropEnv: string[];
  /** Arguments appended to the manifest's command. */
  args: string[];
}

/** A selection that does not fit in the environment or argv, or that the runner cannot take. */
export class CaseFilterError extends DtError {
  constructor(message: string) {
    super("invalid_input", message);
  }
}

/**
 * gtest splits a filter at `:` and at its first `-`, and reads `*` and `?`
 * as wildcards: a name holding `:` or `-` would change the filter's meaning,
 * so each is written `?` (any one character), which at worst also matches a
 * sibling differing there, and never misses the case.
 */
const gtestPattern = (c: CaseName) => `${c.suite}.${c.name}`.replace(/[:-]/g, "?");

function formatCase(spec: CaseFilterSpec, c: CaseName): string {
  return spec.format.replaceAll("{suite}", c.suite).replaceAll("{name}", c.name);
}

/**
 * gtest's filter for a selection, kept within the user's own GTEST_FILTER
 * (`POSITIVE[-NEGATIVE]`): an include list names cases that ran under it,
 * so it replaces it; an exclusion adds to its negative part.
 */
function gtestFilter(selection: CaseSelection, userFilter: string | undefined): string {
  if ("include" in selection) return selection.include.map(gtestPattern).join(":");
  const dash = userFilter?.indexOf("-") ?? -1;
  const positive = userFilter === undefined ? "*" : dash === -1 ? userFilter : userFilter.slice(0, dash) || "*";
  const negative = [...(dash === -1 || userFilter === undefined ? [] : userFilter.slice(dash + 1).split(":").filter(Boolean)), ...selection.exclude.map(gtestPattern)];
  return negative.length === 0 ? positive : `${positive}-${negative.join(":")}`;
}

/**
 * Characters of wildcard patterns gtestFilterMatcher checks every known case
 * against: a match costs up to a pattern's length times a name's, and a
 * user's filter is a few patterns ("-*Slow*:*Flaky*"), not 64 KiB of them.
 */
export const MAX_MATCHED_WILDCARD_CHARS = 1_000;

/** gtest's wildcard match of a whole name: `*` any run of characters, `?` any one; linear but for backtracking to the last `*`. */
function globMatches(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === "?" || pattern[p] === text[t])) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === "*") {
      star = p++;
      resume = t;
    } else if (star !== -1) {
      p = star + 1;
      t = ++resume;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}

function patternSet(patterns: string): (name: string) => boolean {
  const exact = new Set<string>();
  const wild: string[] = [];
  for (const pattern of patterns.split(":")) {
    if (pattern.includes("*") || pattern.includes("?")) wild.push(pattern);
    else exact.add(pattern);
  }
  return (name) => exact.has(name) || wild.some((pattern) => globMatches(pattern, name));
}

/**
 * Whether gtest runs a case under `filter` (a task's own GTEST_FILTER,
 * `POSITIVE[-NEGATIVE]`), read as gtest reads it: an empty positive part
 * before a '-' is `*`. The planner keeps a shard's include list within it,
 * since an include list replaces it. Null when its wildcard patterns are
 * longer than MAX_MATCHED_WILDCARD_CHARS.
 */
export function gtestFilterMatcher(filter: string): ((c: CaseName) => boolean) | null {
  const wildChars = filter.split(/[:-]/).filter((p) => p.includes("*") || p.includes("?")).reduce((n, p) => n + p.length, 0);
  if (wildChars > MAX_MATCHED_WILDCARD_CHARS) return null;
  const dash = filter.indexOf("-");
  const positive = patternSet(dash === -1 ? filter : filter.slice(0, dash) || "*");
  const negative = dash === -1 ? null : patternSet(filter.slice(dash + 1));
  return (c) => {
    const name = `${c.suite}.${c.name}`;
    return positive(name) && !(negative?.(name) ?? false);
  };
}

/**
 * The template filled with `cases`, refused as soon as it grows past the
 * limits rather than once built: a `case` template of 1,000 characters
 * repeating {name} makes 100,000 cases' exclusion gigabytes, which took the
 * master's one thread 20 s to build per check.
 */
function fill(template: string, spec: CaseFilterSpec, cases: readonly CaseName[]): string[] {
  if (template.includes("{case}")) {
    const args: string[] = [];
    let total = 0;
    for (const c of cases) {
      const arg = template.replaceAll("{case}", formatCase(spec, c));
      total += Buffer.byteLength(arg) + 1;
      if (total > MAX_FILTER_ARGS_BYTES) throw new CaseFilterError(`the filter for ${cases.length} cases takes more than ${total} bytes of arguments, more than the ${MAX_FILTER_ARGS_BYTES} a command line holds safely`);
      args.push(arg);
    }
    return args;
  }
  const parts: string[] = [];
  const separatorBytes = Buffer.byteLength(spec.separator);
  let bytes = Buffer.byteLength(template);
  for (const c of cases) {
    const part = formatCase(spec, c);
    bytes += Buffer.byteLength(part) + separatorBytes;
    if (bytes > MAX_FILTER_BYTES) throw new CaseFilterError(`the filter for ${cases.length} cases takes more than ${bytes} bytes, more than the ${MAX_FILTER_BYTES} one environment variable or argument holds (Linux refuses past 128 KiB)`);
    parts.push(part);
  }
  return [template.replaceAll("{cases}", parts.join(spec.separator))];
}

/**
 * The environment and arguments that make the runner run `selection` of a
 * task whose environment is `taskEnv`. Throws CaseFilterError when it does
 * not fit (MAX_FILTER_BYTES) or the runner has no exclusion form.
 */
export function renderCaseFilter(spec: CaseFilterSpec | null, selection: CaseSelection, taskEnv: Readonly<Record<string, string>>): RenderedFilter {
  const dropEnv = [...NUMERIC_SHARD_ENV];
  if (spec === null) {
    const value = gtestFilter(selection, taskEnv.GTEST_FILTER);
    checkBytes(`GTEST_FILTER=${value}`, selection);
    return { env: { GTEST_FILTER: value }, dropEnv, args: [] };
  }
  const cases = "include" in selection ? selection.include : selection.exclude;
  let template: string;
  if ("include" in selection) template = spec.via === "env" ? "{cases}" : spec.target;
  else if (spec.exclude === null) throw new CaseFilterError(`the task's case_filter has no "exclude" form, so dt cannot leave ${cases.length} cases out; add one (e.g. "exclude": "--exclude={cases}")`);
  else template = spec.exclude;
  const values = fill(template, spec, cases);
  if (spec.via === "env") {
    checkBytes(`${spec.target}=${values[0]}`, selection);
    return { env: { [spec.target]: values[0]! }, dropEnv, args: [] };
  }
  for (const arg of values) checkBytes(arg, selection);
  const total = values.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
  if (total > MAX_FILTER_ARGS_BYTES) throw new CaseFilterError(`the filter for ${cases.length} cases takes ${total} bytes of arguments, more than the ${MAX_FILTER_ARGS_BYTES} a command line holds safely`);
  return { env: {}, dropEnv, args: values };
}

function checkBytes(text: string, selection: CaseSelection): void {
  const bytes = Buffer.byteLength(text);
  const count = "include" in selection ? selection.include.length : selection.exclude.length;
  if (bytes > MAX_FILTER_BYTES) throw new CaseFilterError(`the filter for ${count} cases takes ${bytes} bytes, more than the ${MAX_FILTER_BYTES} one environment variable or argument holds (Linux refuses past 128 KiB)`);
}

/** True when `selection` can be rendered for this runner within the limits. */
export function fitsFilter(spec: CaseFilterSpec | null, selection: CaseSelection, taskEnv: Readonly<Record<string, string>>): boolean {
  try {
    renderCaseFilter(spec, selection, taskEnv);
    return true;
  } catch (err) {
    if (err instanceof CaseFilterError) return false;
    throw err;
  }
}

/** True when the runner can take an exclusion (auto shards need one for their last shard). */
export const canExclude = (spec: CaseFilterSpec | null) => spec === null || spec.exclude !== null;

/** The keys of a task's `case_filter`. */
const SPEC_KEYS = new Set(["env", "arg", "separator", "case", "exclude"]);
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/**
 * Variables dt sets after the filter: the lease (DT_JOB_ID, DT_TASK_ID,
 * DT_ATTEMPT), the slave (DT_SLAVE_RUN_ID, slave/run-ledger.ts) and
 * run-isolated (ISOLATED_OUTDIR). A filter in one of them would be
 * overwritten, and the shard would run every case.
 */
const DT_ENV = new Set(["DT_JOB_ID", "DT_TASK_ID", "DT_ATTEMPT", "DT_SLAVE_RUN_ID", "ISOLATED_OUTDIR"]);

/**
 * Checks a task's `case_filter`: `{"env": "NAME"}` or `{"arg": "--flag={cases}"}`,
 * with optional `separator` (default ":"), `case` (default "{suite}.{name}")
 * and `exclude`. Absent or null: googletest's GTEST_FILTER.
 */
export function parseCaseFilter(raw: unknown, field: string): CaseFilterSpec | null {
  if (raw === undefined || raw === null) return null;
  const fail = (where: string, problem: string): never => {
    throw new DtError("invalid_input", `${where}: ${problem}`);
  };
  if (typeof raw !== "object" || Array.isArray(raw)) fail(field, 'must be an object: {"env": "NAME"} or {"arg": "--flag={cases}"}, with optional "separator", "case" and "exclude"');
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) if (!SPEC_KEYS.has(key)) fail(fieldPath(field, key), `is not a key of case_filter (known: ${[...SPEC_KEYS].join(", ")})`);
  const text = (key: string, fallback: string | null, max = 1_000): string | null => {
    const v = r[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "string" || v === "" || v.length > max || v.includes("\0") || !v.isWellFormed()) fail(fieldPath(field, key), `must be a non-empty string of at most ${max} characters without NUL`);
    return v as string;
  };
  const env = text("env", null, 128);
  const arg = text("arg", null);
  if ((env === null) === (arg === null)) fail(field, 'needs exactly one of "env" (a variable\'s name) and "arg" (an argument\'s template)');
  if (env !== null && !ENV_NAME_RE.test(env)) fail(fieldPath(field, "env"), "must be an environment variable's name (letters, digits, '_', not starting with a digit)");
  if (env !== null && DT_ENV.has(env)) fail(fieldPath(field, "env"), `${env} is set by dt itself, which would overwrite the filter; name the variable your runner reads`);
  if (arg !== null && !arg.includes("{cases}") && !arg.includes("{case}")) fail(fieldPath(field, "arg"), 'must hold {cases} (every case, joined) or {case} (one argument per case)');
  const exclude = text("exclude", null);
  if (exclude !== null && !exclude.includes("{cases}") && !(arg !== null && exclude.includes("{case}"))) {
    fail(fieldPath(field, "exclude"), arg !== null ? "must hold {cases} or {case}" : "must hold {cases}");
  }
  const format = text("case", "{suite}.{name}")!;
  if (!format.includes("{name}")) fail(fieldPath(field, "case"), "must hold {name} (and usually {suite})");
  return { via: env !== null ? "env" : "arg", target: (env ?? arg)!, separator: text("separator", ":")!, format, exclude };
}

import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { DtError, errnoCode, isDtError } from "../../common/errors.ts";
import { evaluateCondition, parseCondition, type Condition } from "./conditions.ts";
import { MAX_LITERAL_CHARS, parsePythonLiteral, type PyDict, type PyValue } from "./python-literal.ts";

/**
 * Loads a `.isolate` file and its includes into the command, file list and
 * read-only mode for one configuration, with the semantics of luci's
 * isolate_format.py (see reference/isolate.md §1).
 */

/** Values for `<(VAR)` substitution; config variables also decide conditions. */
export interface IsolateVariables {
  pathVariables: Record<string, string>;
  configVariables: Record<string, string>;
}

/** A loaded .isolate file, flattened for one configuration. */
export interface IsolateSpec {
  /** Absolute path of the root .isolate file. */
  isolatePath: string;
  /** After `<(VAR)` substitution; [] when no file defines one. */
  command: string[];
  /** Absolute dir of the .isolate file whose `command` won (relative paths in the command are relative to it); the root file's dir when there is no command. */
  commandDir: string;
  /** Absolute normalized paths, sorted, deduplicated; a directory entry keeps its trailing "/". */
  files: string[];
  readOnly: 0 | 1 | 2 | undefined;
}

/**
 * Include chains deeper than this are refused. Real chains are 2–3 deep; the
 * cap stops paths that grow through a symlink loop without repeating.
 */
const MAX_INCLUDE_DEPTH = 100;

type ReadOnly = 0 | 1 | 2;

/** One `variables` dict, validated but not yet substituted. `where` names it in errors. */
interface VariablesBlock {
  where: string;
  command?: string[];
  files: string[];
  readOnly?: ReadOnly;
}

interface IsolateFile {
  includes: string[];
  variables: VariablesBlock;
  conditions: { condition: Condition; variables: VariablesBlock }[];
}

/** What one file and its includes contribute. */
interface Contribution {
  /** Not yet substituted: a command that loses to another is never expanded, as in luci. */
  command?: { argv: string[]; file: string; where: string };
  readOnly?: ReadOnly;
  files: Set<string>;
}

interface LoadContext {
  /** Path variables win over config variables of the same name. */
  substitutions: ReadonlyMap<string, string>;
  configVariables: ReadonlyMap<string, string>;
  /** Files already loaded in this call, so diamond-shaped includes are read once. */
  loaded: Map<string, Contribution>;
}

/**
 * Loads the .isolate file at `path` for the given variables.
 *
 * Defaults: config variable OS is "linux" and path variable EXECUTABLE_SUFFIX
 * is "" unless given.
 *
 * @example
 *   const spec = await loadIsolate("src/kudu/util/foo-test.isolate", { pathVariables: {}, configVariables: {} });
 * @throws DtError not_found for a missing file or include; invalid_input for
 *   syntax, type, substitution and include-cycle errors; too_large over 10 MiB.
 */
export async function loadIsolate(isolateFile: string, vars: IsolateVariables): Promise<IsolateSpec> {
  const configVariables = toMap({ OS: "linux", ...vars.configVariables }, "config variable");
  const pathVariables = toMap({ EXECUTABLE_SUFFIX: "", ...vars.pathVariables }, "path variable");
  const context: LoadContext = {
    substitutions: new Map([...configVariables, ...pathVariables]),
    configVariables,
    loaded: new Map(),
  };
  const isolatePath = path.resolve(isolateFile);
  const result = await loadWithIncludes(isolatePath, context, []);
  const command = result.command;
  return {
    isolatePath,
    command: command?.argv.map((arg) => substitute(arg, context, command.file, command.where)) ?? [],
    commandDir: path.dirname(command?.file ?? isolatePath),
    files: [...result.files].sort(),
    readOnly: result.readOnly,
  };
}

function toMap(record: Record<string, string>, what: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const [name, value] of Object.entries(record)) {
    if (typeof value !== "string") throw new DtError("invalid_input", `${what} ${name} must be a string, got ${typeof value}`);
    map.set(name, value);
  }
  return map;
}

/**
 * Loads `file`, whose include chain so far is `chain`. Includes come first;
 * the file's own command and read_only then override theirs, as in luci.
 */
async function loadWithIncludes(file: string, context: LoadContext, chain: string[]): Promise<Contribution> {
  const cached = context.loaded.get(file);
  if (cached) return cached;
  const parsed = validateIsolate(await readIsolate(file, chain.at(-1)), file);
  const dir = path.dirname(file);
  const result: Contribution = { files: new Set() };
  for (const [index, include] of parsed.includes.entries()) {
    const where = `includes[${index}]`;
    const target = path.resolve(dir, substitutePath(include, context, file, where));
    if (target === file || chain.includes(target)) {
      const cycle = [...chain, file, target].join(" -> ");
      throw new DtError("invalid_input", `${file}: ${where} makes an include cycle: ${cycle}`);
    }
    if (chain.length + 1 >= MAX_INCLUDE_DEPTH) {
      throw new DtError("invalid_input", `${file}: ${where}: includes nest deeper than ${MAX_INCLUDE_DEPTH} files`);
    }
    const included = await loadWithIncludes(target, context, [...chain, file]);
    for (const entry of included.files) result.files.add(entry);
    // luci merges includes in reverse order, so a later include wins over an earlier one.
    if (included.command) result.command = included.command;
    if (included.readOnly !== undefined) result.readOnly = included.readOnly;
  }
  const own = flattenOwnVariables(parsed, context.configVariables);
  for (const block of own.fileBlocks) {
    for (const entry of block.files) result.files.add(resolveFileEntry(entry, dir, context, file, `${block.where}.files`));
  }
  if (own.command) result.command = { argv: own.command, file, where: own.commandWhere };
  if (own.readOnly !== undefined) result.readOnly = own.readOnly;
  context.loaded.set(file, result);
  return result;
}

/**
 * The blocks of one file that apply: the unconditional one plus each matching
 * condition. A matching condition's command/read_only overrides the
 * unconditional one; among matching conditions the first in the file wins
 * (luci's union keeps the left-hand side). An empty command counts as none,
 * as in luci (`self.command or rhs.command`).
 */
function flattenOwnVariables(parsed: IsolateFile, configVariables: ReadonlyMap<string, string>): OwnVariables {
  const matching = parsed.conditions.filter((c) => evaluateCondition(c.condition, configVariables)).map((c) => c.variables);
  const byPriority = [...matching, parsed.variables];
  const commandBlock = byPriority.find((block) => block.command !== undefined && block.command.length > 0);
  return {
    fileBlocks: [parsed.variables, ...matching],
    command: commandBlock?.command,
    commandWhere: `${commandBlock?.where}.command`,
    readOnly: byPriority.find((block) => block.readOnly !== undefined)?.readOnly,
  };
}

interface OwnVariables {
  fileBlocks: VariablesBlock[];
  command: string[] | undefined;
  commandWhere: string;
  readOnly: ReadOnly | undefined;
}

async function readIsolate(file: string, includedFrom: string | undefined): Promise<PyValue> {
  const what = includedFrom ? `${file} (included from ${includedFrom})` : file;
  let bytes: Uint8Array;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new DtError("invalid_input", `.isolate file ${what} is not a regular file`);
    // Checked before reading so a huge file is never loaded into memory.
    if (info.size > MAX_LITERAL_CHARS) {
      throw new DtError("too_large", `.isolate file ${what} is ${info.size} bytes; at most ${MAX_LITERAL_CHARS} are allowed`);
    }
    bytes = await readFile(file);
  } catch (err) {
    if (isDtError(err)) throw err;
    const code = errnoCode(err);
    if (code === "ENOENT" || code === "ENOTDIR") throw new DtError("not_found", `.isolate file ${what} does not exist`, { cause: err });
    throw new DtError("invalid_input", `cannot read .isolate file ${what}: ${(err as Error).message}`, { cause: err });
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (err) {
    throw new DtError("invalid_input", `.isolate file ${what} is not valid UTF-8`, { cause: err });
  }
  return parsePythonLiteral(text, file);
}

function invalid(file: string, message: string): DtError {
  return new DtError("invalid_input", `${file}: ${message}`);
}

/** How a parsed value reads in a type error. */
function describe(value: PyValue | undefined): string {
  if (value === null) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return `the int ${value}`;
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 60 ? value.slice(0, 60) + "…" : value)}`;
  if (Array.isArray(value)) return "a list";
  if (value instanceof Map) return "a dict";
  return "nothing";
}

function expectDict(value: PyValue, file: string, where: string): PyDict {
  if (value instanceof Map) return value;
  throw invalid(file, `${where} must be a dict, found ${describe(value)}`);
}

function expectList(value: PyValue, file: string, where: string): PyValue[] {
  if (Array.isArray(value)) return value;
  throw invalid(file, `${where} must be a list, found ${describe(value)}`);
}

function expectStringList(value: PyValue, file: string, where: string): string[] {
  const list = expectList(value, file, where);
  for (const [index, item] of list.entries()) {
    if (typeof item !== "string") throw invalid(file, `${where}[${index}] must be a string, found ${describe(item)}`);
  }
  return list as string[];
}

/** Checks the shape isolate_format.py's verify_root accepted, and nothing more. */
function validateIsolate(value: PyValue, file: string): IsolateFile {
  const root = expectDict(value, file, "the top level");
  const parsed: IsolateFile = { includes: [], variables: { where: "variables", files: [] }, conditions: [] };
  for (const [key, item] of root) {
    if (key === "includes") parsed.includes = expectStringList(item, file, "includes");
    else if (key === "variables") parsed.variables = validateVariables(item, file, "variables");
    else if (key === "conditions") {
      parsed.conditions = expectList(item, file, "conditions").map((pair, index) => validateConditionPair(pair, file, `conditions[${index}]`));
    } else {
      throw invalid(file, `unknown top-level key ${JSON.stringify(key)}; only "includes", "variables" and "conditions" are allowed`);
    }
  }
  return parsed;
}

function validateConditionPair(value: PyValue, file: string, where: string) {
  const pair = expectList(value, file, where);
  if (pair.length !== 2) {
    throw invalid(file, `${where} must be a list of two items, [condition, {"variables": {...}}], found ${pair.length} items (isolate dropped "else" branches)`);
  }
  const [expr, then] = pair;
  if (typeof expr !== "string") throw invalid(file, `${where}[0] must be a condition string, found ${describe(expr)}`);
  const thenDict = expectDict(then, file, `${where}[1]`);
  for (const key of thenDict.keys()) {
    if (key !== "variables") throw invalid(file, `unknown key ${JSON.stringify(key)} in ${where}[1]; only "variables" is allowed`);
  }
  const variables = thenDict.get("variables");
  if (variables === undefined) throw invalid(file, `${where}[1] has no "variables" key`);
  return {
    condition: parseCondition(expr, `${file}: ${where}[0]`),
    variables: validateVariables(variables, file, `${where}[1].variables`),
  };
}

function validateVariables(value: PyValue, file: string, where: string): VariablesBlock {
  const dict = expectDict(value, file, where);
  const block: VariablesBlock = { where, files: [] };
  for (const [key, item] of dict) {
    if (key === "command") block.command = expectStringList(item, file, `${where}.command`);
    else if (key === "files") block.files = expectStringList(item, file, `${where}.files`);
    else if (key === "read_only") {
      // None means "not set", as in isolate's verify_variables.
      if (item === 0 || item === 1 || item === 2) block.readOnly = item;
      else if (item !== null) throw invalid(file, `${where}.read_only must be 0, 1 or 2, found ${describe(item)}`);
    } else {
      throw invalid(file, `unknown key ${JSON.stringify(key)} in ${where}; only "command", "files" and "read_only" are allowed`);
    }
  }
  return block;
}

/** Replaces every `<(NAME)` in `entry`; an undefined NAME is an error naming the file and the entry. */
function substitute(entry: string, context: LoadContext, file: string, where: string): string {
  return entry.replace(/<\(([A-Za-z_][A-Za-z_0-9]*)\)/g, (_match, name: string) => {
    const value = context.substitutions.get(name);
    if (value === undefined) {
      throw invalid(file, `variable <(${name}) in ${where} entry ${JSON.stringify(entry)} is not defined; pass it as a path or config variable`);
    }
    return value;
  });
}

/**
 * Checks and substitutes a path entry (a file or an include). A literal
 * absolute path is refused (isolate files list paths relative to
 * themselves); a path variable may still expand to an absolute path, which is
 * then kept, since that is what path variables such as PRODUCT_DIR are for.
 */
function substitutePath(entry: string, context: LoadContext, file: string, where: string): string {
  if (entry === "" || entry.includes("\0")) throw invalid(file, `${where} entry ${JSON.stringify(entry)} is not a valid path`);
  if (path.isAbsolute(entry)) {
    throw invalid(file, `${where} entry ${JSON.stringify(entry)} is absolute; isolate files list paths relative to themselves`);
  }
  return substitute(entry, context, file, where);
}

/** Resolves a `files` entry against `dir`, keeping the trailing "/" that marks a directory. */
function resolveFileEntry(entry: string, dir: string, context: LoadContext, file: string, where: string): string {
  const substituted = substitutePath(entry, context, file, where);
  const resolved = path.resolve(dir, substituted);
  return substituted.endsWith("/") && !resolved.endsWith("/") ? resolved + "/" : resolved;
}

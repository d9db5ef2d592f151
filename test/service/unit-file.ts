/**
 * What systemd does with a unit's ExecStart, for tests that run the exact
 * command line a unit would: parse the unit, expand specifiers (%i, %H, …),
 * build the environment (StateDirectory=, Environment=, EnvironmentFile=)
 * and expand `${VAR}` and `$VAR` in ExecStart (systemd.service(5),
 * "Command lines"). Anything the units should not need (quotes inside words,
 * `$VAR` inside a word, unknown specifiers, prefixes like `-` or `+`) throws,
 * so a unit that starts to need it fails here rather than passing untested.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/** A unit as `Section.Key` → its values in order (a key may repeat, e.g. EnvironmentFile=). */
export type ParsedUnit = Map<string, string[]>;

export function parseUnit(text: string): ParsedUnit {
  const unit: ParsedUnit = new Map();
  let section = "";
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    if (line.endsWith("\\")) throw new Error(`line ${i + 1}: continuation lines are not supported here: ${line}`);
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0 || section === "") throw new Error(`line ${i + 1}: not "Key=value" in a section: ${line}`);
    const key = `${section}.${line.slice(0, eq)}`;
    unit.set(key, [...(unit.get(key) ?? []), line.slice(eq + 1)]);
  }
  return unit;
}

/** The one value of `key` (e.g. "Service.ExecStart"); fails if it is missing or repeated. */
export function single(unit: ParsedUnit, key: string): string {
  const values = unit.get(key) ?? [];
  if (values.length !== 1) throw new Error(`${key}: expected one value, found ${values.length}`);
  return values[0]!;
}

/** Replaces `%x` specifiers from `specifiers` (`%%` is a `%`). */
export function expandSpecifiers(text: string, specifiers: Record<string, string>): string {
  return text.replace(/%(.)/g, (_, letter: string) => {
    if (letter === "%") return "%";
    const value = specifiers[letter];
    if (value === undefined) throw new Error(`specifier %${letter} in ${JSON.stringify(text)} is not one this test provides`);
    return value;
  });
}

/** How a test stands in for the host: where systemd's directories are and what its env files hold. */
export interface HostSimulation {
  specifiers: Record<string, string>;
  /** The environment systemd gives every service (PATH, HOME of User=, …). */
  baseEnv: Record<string, string>;
  /** Stand-ins for /var/lib and /var/cache. */
  stateRoot: string;
  cacheRoot: string;
  /** Contents of environment files by the path the unit names (after specifiers); absent means the file does not exist. */
  envFiles: Record<string, string>;
}

/**
 * The argv and environment systemd would exec for the unit's ExecStart.
 * Makes the StateDirectory= and CacheDirectory= directories, as systemd
 * does before it starts the service.
 */
export function execStart(unit: ParsedUnit, host: HostSimulation): { argv: string[]; env: Record<string, string> } {
  const env: Record<string, string> = { ...host.baseEnv };
  for (const [key, root, variable] of [["Service.StateDirectory", host.stateRoot, "STATE_DIRECTORY"], ["Service.CacheDirectory", host.cacheRoot, "CACHE_DIRECTORY"]] as const) {
    const value = unit.get(key);
    if (!value) continue;
    const dirs = value.flatMap((v) => expandSpecifiers(v, host.specifiers).split(/\s+/)).map((d) => join(root, d));
    for (const dir of dirs) mkdirSync(dir, { recursive: true });
    env[variable] = dirs.join(":");
  }
  for (const assignment of unit.get("Service.Environment") ?? []) {
    for (const word of splitWords(expandSpecifiers(assignment, host.specifiers))) {
      const eq = word.indexOf("=");
      env[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  for (const entry of unit.get("Service.EnvironmentFile") ?? []) {
    const optional = entry.startsWith("-");
    const path = expandSpecifiers(optional ? entry.slice(1) : entry, host.specifiers);
    const content = host.envFiles[path];
    if (content === undefined) {
      if (optional) continue;
      throw new Error(`EnvironmentFile=${path} does not exist and is not optional`);
    }
    Object.assign(env, parseEnvFile(content));
  }
  const line = expandSpecifiers(single(unit, "Service.ExecStart"), host.specifiers);
  if (/^[-@:+!]/.test(line)) throw new Error(`ExecStart prefixes are not supported here: ${line}`);
  return { argv: splitWords(line).flatMap((word) => expandWord(word, env)), env };
}

/** Words as systemd splits a command line: at blanks, with "…" and '…' quoting. */
function splitWords(line: string): string[] {
  const words: string[] = [];
  for (const match of line.matchAll(/"([^"\\]*)"|'([^'\\]*)'|([^\s"'\\]+)|(\S)/g)) {
    const end = match.index + match[0].length;
    const wholeWord = /^\s?$/.test(line[match.index - 1] ?? "") && /^\s?$/.test(line[end] ?? "");
    if (match[4] !== undefined || !wholeWord) throw new Error(`cannot split ${JSON.stringify(line)}: a quote inside a word or a backslash`);
    words.push(match[1] ?? match[2] ?? match[3]!);
  }
  return words;
}

/** `$VAR` alone is split at blanks into zero or more words; `${VAR}` is replaced in place; `$$` is a `$`. */
function expandWord(word: string, env: Record<string, string>): string[] {
  const alone = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
  if (alone) return (env[alone[1]!] ?? "").split(/\s+/).filter(Boolean);
  return [
    word.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$/g, (whole, name?: string) => {
      if (whole === "$$") return "$";
      if (name === undefined) throw new Error(`${JSON.stringify(word)}: a $ that systemd would not expand as written`);
      return env[name] ?? "";
    }),
  ];
}

/** KEY=VALUE lines, `#` comments, values optionally in double quotes. */
function parseEnvFile(content: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of content.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"\\]*)"|([^"'\\]*))$/.exec(line);
    if (!match) throw new Error(`environment file line not supported here: ${line}`);
    env[match[1]!] = match[2] ?? match[3]!.trim();
  }
  return env;
}

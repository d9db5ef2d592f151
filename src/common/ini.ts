import { DtError } from "./errors.ts";

/** An INI file as dist_test's ConfigParser read it: section → key → value. */
export type IniData = Map<string, Map<string, string>>;

/**
 * Parses the INI dialect of Python's ConfigParser, which dist_test's
 * `~/.dist_test.cnf` uses: `[section]`, `key = value` or `key: value`,
 * `#` and `;` comment lines, and continuation lines (indented) appended with
 * a newline. Keys are case-insensitive (lower-cased), as ConfigParser does.
 *
 * @example parseIni("[dist_test]\nmaster = http://m:8081\n", "~/.dist_test.cnf")
 */
export function parseIni(text: string, source: string): IniData {
  const data: IniData = new Map();
  let section: Map<string, string> | undefined;
  let lastKey: string | undefined;
  // Python reads the file with universal newlines: a lone \r ends a line too.
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#") || trimmed.startsWith(";")) {
      lastKey = trimmed === "" ? undefined : lastKey;
      continue;
    }
    if (/^\s/.test(raw) && section && lastKey !== undefined) {
      section.set(lastKey, `${section.get(lastKey)}\n${trimmed}`);
      continue;
    }
    const header = /^\[([^\]]+)\]\s*$/.exec(trimmed);
    if (header) {
      const name = header[1]!.trim();
      section = data.get(name) ?? new Map();
      data.set(name, section);
      lastKey = undefined;
      continue;
    }
    // Split at the first separator by hand: the regex this replaced,
    // /^([^=:]+?)\s*[=:]\s*(.*)$/, backtracked quadratically on a long run of
    // blanks with no separator after it (100,000 tabs took seconds).
    const separator = trimmed.search(/[=:]/);
    if (separator <= 0) {
      throw new DtError("invalid_input", `${source}:${i + 1}: expected "[section]" or "key = value", found ${JSON.stringify(trimmed.slice(0, 60))}`);
    }
    const key = trimmed.slice(0, separator).trimEnd();
    if (!section) {
      throw new DtError("invalid_input", `${source}:${i + 1}: "${key.slice(0, 60)}" appears before any [section] header; put it under e.g. [dist_test]`);
    }
    lastKey = key.toLowerCase();
    section.set(lastKey, trimmed.slice(separator + 1).trimStart());
  }
  return data;
}

import type { ArgDef, ArgsDef, CommandDef } from "citty";
import { DtError } from "../common/errors.ts";
import { closestMatch } from "../common/suggest.ts";
import { normalizeGoFlags } from "./context.ts";

/**
 * What a command takes beyond its declared flags and positionals. Most take
 * nothing more; the few that do say so here, beside their definition.
 */
export interface ArgvPolicy {
  /** luci-go's Go-style flags: `-isolate-server=URL` is read as `--isolate-server=URL` (Kudu's scripts pass them so). */
  goFlags?: boolean;
  /** The last positional takes any number of values. */
  variadic?: boolean;
  /**
   * What follows `--` (named in help and errors). Without it, the words after
   * `--` are positionals, as POSIX has it (`dt watch -- JOB`), counted with
   * those before it.
   */
  afterDashDash?: string;
  /** Why a positional too many after `--` is refused, when there is more to say than that it is one too many. */
  noDashDash?: string;
  /** Flags that also take `KEY VALUE` as two words when KEY has no `=` (isolate.py's `--path-variable KEY VALUE`). */
  pairFlags?: readonly string[];
  /**
   * Flags whose value is a comma-separated list (`--dimensions pool=a,gpu=1`):
   * given twice, the lists are joined rather than the last one kept, so
   * `--dimensions` in a unit's DT_SLAVE_ARGS and again in its instance's
   * arguments loses neither.
   */
  listFlags?: readonly string[];
}

/**
 * A command line that dt refuses before the command does anything: an
 * unknown flag, a flag without its value, an argument too many. The message
 * starts with the command (`dt submit: unknown flag --json; …`).
 */
export class UsageError extends DtError {
  constructor(command: string, problem: string) {
    super("invalid_input", `${command}: ${problem}`);
    this.name = "UsageError";
  }
}

/** Dashes that are not '-': hyphen, en and em dash, minus sign and their kin, as pasted from a page. */
const TYPOGRAPHIC_DASH = /^[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]+/;

interface Flag {
  name: string;
  def: ArgDef;
  boolean: boolean;
}

interface FlagTable {
  long: Map<string, Flag>;
  short: Map<string, Flag>;
  positionals: { name: string; required: boolean; description: string }[];
}

function flagTable(args: ArgsDef): FlagTable {
  const table: FlagTable = { long: new Map(), short: new Map(), positionals: [] };
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") {
      table.positionals.push({ name: name.toUpperCase(), required: def.required !== false && def.default === undefined, description: def.description ?? "" });
      continue;
    }
    const flag = { name, def, boolean: def.type === "boolean" };
    table.long.set(name, flag);
    const aliases = "alias" in def && def.alias !== undefined ? (Array.isArray(def.alias) ? def.alias : [def.alias]) : [];
    for (const alias of aliases) (alias.length === 1 ? table.short : table.long).set(alias, flag);
  }
  return table;
}

/**
 * How a flag is handed on to citty: always `--name=value`, so no value is
 * taken for a flag or the other way round. A string flag named `no-…` goes in
 * its camelCase spelling, since citty reads any `--no-x` as "x is false"
 * (`--no-resource-timeout 5m` set nothing).
 */
function emitted(flag: Flag, value: string | boolean): string {
  if (typeof value === "boolean") return value ? `--${flag.name}` : `--no-${flag.name}`;
  const name = flag.name.startsWith("no-") ? flag.name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase()) : flag.name;
  return `--${name}=${value}`;
}

interface Parsed {
  flags: string[];
  given: Set<string>;
  positionals: string[];
  /** The words after `--`, or undefined when there is no `--`. */
  rest: string[] | undefined;
}

/** The words of a command line, read as dt reads them. */
class Reader {
  constructor(
    private readonly table: FlagTable,
    private readonly policy: ArgvPolicy,
    private readonly command: string,
  ) {}

  private fail(problem: string): never {
    throw new UsageError(this.command, problem);
  }

  /** A word that is a flag of this command, not a value: `--anything`, or `-x` for a short flag it has. */
  private isFlagWord(word: string): boolean {
    return (word.startsWith("--") && word !== "--") || (/^-[A-Za-z]$/.test(word) && (this.table.short.has(word[1]!) || word === "-h"));
  }

  private unknown(word: string): never {
    const name = word.replace(/^-+/, "").split("=")[0]!;
    const guess = closestMatch(name.replace(/^no-/, ""), this.table.long.keys());
    const flags = guess && this.table.long.get(guess)!.boolean && name.startsWith("no-") ? `--no-${guess}` : guess && `--${guess}`;
    this.fail(`unknown flag ${word.split("=")[0]}${flags ? `; did you mean ${flags}?` : ""} (${this.command} --help lists the flags)`);
  }

  /**
   * `—no-wait`: a word that starts with a dash a word processor or a web
   * page put in place of `--` or `-`. Taken as a positional, it would be
   * read as a file name or a job id; refused naming the character instead.
   */
  private typographicDash(word: string): never {
    const name = word.replace(TYPOGRAPHIC_DASH, "").split("=")[0]!;
    const known = this.table.long.has(name) || this.table.long.get(name.replace(/^no-/, ""))?.boolean === true;
    const guess = known ? name : closestMatch(name.replace(/^no-/, ""), this.table.long.keys());
    const char = `U+${word.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
    this.fail(`${JSON.stringify(word)} starts with a typographic dash (${char}), not '-'${guess ? `; did you mean --${guess}?` : ""} (a file or job whose name starts with it goes after --)`);
  }

  /** The value of a string flag written without `=`: the next word, unless there is none or it is a flag. */
  private valueAfter(words: readonly string[], i: number, shown: string): string {
    const next = words[i];
    if (next === undefined || next === "--" || this.isFlagWord(next)) {
      this.fail(`${shown} needs a value${next === undefined ? "" : ` (the next word, ${next}, is a flag; write ${shown}=VALUE for a value that starts with -)`}`);
    }
    return next;
  }

  read(words: readonly string[], stopAtPositional: boolean): Parsed & { end: number } {
    const out: Parsed = { flags: [], given: new Set(), positionals: [], rest: undefined };
    let i = 0;
    const lists = new Map<string, { at: number; values: string[] }>();
    const set = (flag: Flag, value: string | boolean) => {
      if (typeof value === "string" && this.policy.listFlags?.includes(flag.name)) {
        const list = lists.get(flag.name);
        if (list) {
          list.values.push(value);
          out.flags[list.at] = emitted(flag, list.values.filter((v) => v !== "").join(","));
          return;
        }
        lists.set(flag.name, { at: out.flags.length, values: [value] });
      }
      out.flags.push(emitted(flag, value));
      out.given.add(flag.name);
    };
    const stringValue = (flag: Flag, inline: string | undefined, shown: string) => {
      let value = inline ?? this.valueAfter(words, i++, shown);
      if (inline === undefined && this.policy.pairFlags?.includes(flag.name) && !value.includes("=")) {
        value = `${value}=${this.valueAfter(words, i++, `${shown} ${value}`)}`;
      }
      set(flag, value);
    };
    while (i < words.length) {
      const word = words[i]!;
      if (word === "--") {
        out.rest = words.slice(i + 1);
        return { ...out, end: words.length };
      }
      if (word === "-" || !word.startsWith("-")) {
        if (TYPOGRAPHIC_DASH.test(word)) this.typographicDash(word);
        if (stopAtPositional) return { ...out, end: i };
        out.positionals.push(word);
        i++;
        continue;
      }
      i++;
      if (word.startsWith("--")) {
        const eq = word.indexOf("=");
        const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
        const inline = eq < 0 ? undefined : word.slice(eq + 1);
        const flag = this.table.long.get(name);
        const negated = flag ? undefined : this.table.long.get(name.replace(/^no-/, ""));
        if (flag?.boolean) {
          if (inline !== undefined && inline !== "true" && inline !== "false") this.fail(`--${name} takes no value; write --${flag.name} or --no-${flag.name}`);
          set(flag, inline !== "false");
        } else if (flag) {
          stringValue(flag, inline, `--${name}`);
        } else if (name.startsWith("no-") && negated?.boolean) {
          if (inline !== undefined) this.fail(`--${name} takes no value`);
          set(negated, false);
        } else {
          this.unknown(word);
        }
        continue;
      }
      // -x, -xy (booleans grouped), -nVALUE, -n=VALUE, -n VALUE.
      const letters = word.slice(1);
      for (let j = 0; j < letters.length; j++) {
        const flag = this.table.short.get(letters[j]!);
        // `-slaves` is more likely a misspelt --slaves than the letters s, l, a, …
        if (!flag) this.unknown(j === 0 ? word : `-${letters[j]}`);
        if (flag.boolean) {
          set(flag, true);
          continue;
        }
        const attached = letters.slice(j + 1).replace(/^=/, "");
        stringValue(flag, attached === "" && !letters.slice(j + 1).startsWith("=") ? undefined : attached, `-${letters[j]}`);
        break;
      }
    }
    return { ...out, end: words.length };
  }
}

/** Required flags and the positionals' count, once every word is read. */
function checkCounts(table: FlagTable, parsed: Parsed, policy: ArgvPolicy, command: string): void {
  const fail = (problem: string): never => {
    throw new UsageError(command, problem);
  };
  for (const flag of new Set(table.long.values())) {
    if (flag.def.required === true && flag.def.default === undefined && !parsed.given.has(flag.name)) {
      fail(`--${flag.name} is required: ${flag.def.description ?? ""} (${command} --help lists the flags)`);
    }
  }
  const declared = table.positionals;
  // A command that gives `--` no meaning of its own takes the words after it as positionals.
  const rest = policy.afterDashDash === undefined ? (parsed.rest ?? []) : [];
  const positionals = [...parsed.positionals, ...rest];
  const missing = declared.slice(positionals.length).find((p) => p.required);
  if (missing) fail(`missing ${missing.name}: ${missing.description}`);
  if (positionals.length > declared.length && !(policy.variadic && declared.length > 0)) {
    if (policy.noDashDash !== undefined && rest.length > 0) fail(policy.noDashDash);
    const extra = positionals.slice(declared.length);
    const takes = declared.length === 0 ? "takes no arguments" : `takes ${declared.map((p) => p.name).join(" ")}`;
    fail(`unexpected argument${extra.length > 1 ? "s" : ""} ${extra.map((w) => JSON.stringify(w)).join(" ")}; ${command} ${takes}, flags and their values aside`);
  }
}

async function resolved<T>(value: T | Promise<T> | (() => T | Promise<T>) | undefined): Promise<T | undefined> {
  return typeof value === "function" ? (value as () => T | Promise<T>)() : value;
}

/**
 * Checks a command line against the command's declared flags and
 * positionals and returns it in the one spelling citty reads without
 * guessing (`--name=value`, positionals, then `--` and the words after it,
 * untouched). A command with subcommands (`dt slaves drain NAME`) is checked
 * against the one named; flags given before its name move after it.
 * Throws a UsageError for anything it does not take.
 *
 * @example await checkCommandArgv(submit, ["--slaves", "3", "t.json"], {}, "dt submit") // UsageError: unknown flag --slaves …
 */
export async function checkCommandArgv(cmd: CommandDef<any>, argv: readonly string[], policy: ArgvPolicy, command: string): Promise<string[]> {
  const words = policy.goFlags ? normalizeGoFlags(argv) : argv;
  const table = flagTable((await resolved(cmd.args)) ?? {});
  const reader = new Reader(table, policy, command);
  const subCommands = await resolved(cmd.subCommands);
  if (subCommands && Object.keys(subCommands).length > 0) {
    const parent = reader.read(words, true);
    // `dt slaves -- drain x` would otherwise run the default command and drop the rest unseen.
    if (parent.rest !== undefined) throw new UsageError(command, `-- before a command's name; name the command first (commands: ${Object.keys(subCommands).join(", ")})`);
    const name = words[parent.end];
    if (name === undefined && cmd.default === undefined) throw new UsageError(command, `needs a command: ${Object.keys(subCommands).join(", ")}`);
    const subName = name ?? (await resolved(cmd.default))!;
    const sub = subCommands[subName];
    if (!sub) {
      const guess = closestMatch(subName, Object.keys(subCommands));
      throw new UsageError(command, `unknown command ${JSON.stringify(subName)}${guess ? `; did you mean ${guess}?` : ""} (commands: ${Object.keys(subCommands).join(", ")})`);
    }
    const subArgv = await checkCommandArgv((await resolved(sub))!, [...parent.flags, ...words.slice(parent.end + 1)], {}, `${command} ${subName}`);
    return name === undefined ? subArgv : [name, ...subArgv];
  }
  const parsed = reader.read(words, false);
  checkCounts(table, parsed, policy, command);
  return [...parsed.flags, ...parsed.positionals, ...(parsed.rest === undefined ? [] : ["--", ...parsed.rest])];
}

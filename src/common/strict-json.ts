import { DtError } from "./errors.ts";
import { caretExcerpt, jsonSyntaxProblem } from "./json-syntax.ts";

/**
 * Nesting that no dt document needs: a job is 4 levels deep (job, tasks,
 * task, env), a manifest 3. JSON.parse takes seconds on a body of ten
 * million `[`, holding the event loop the whole time; this refuses it first.
 */
export const MAX_JSON_DEPTH = 32;

/** Longest field path an error message repeats; a deep or long-keyed path is cut there. */
const MAX_PATH_CHARS = 200;

const IDENTIFIER_RE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * The path of `key` inside the object at `base`, as error messages name
 * fields: `tasks[3].env.FOO`, or `files["a/b"]` for a key that is not a
 * plain identifier. `base` "" is the top level.
 *
 * @example fieldPath("tasks[0].env", "FOO") === "tasks[0].env.FOO"
 */
export function fieldPath(base: string, key: string): string {
  const shown = key.length > 80 ? `${key.slice(0, 80)}…` : key;
  if (IDENTIFIER_RE.test(key)) return base === "" ? shown : `${base}.${shown}`;
  return `${base}[${JSON.stringify(shown)}]`;
}

type Frame = { array: true; index: number } | { array: false; key: string | null; keys: string[] | Set<string> };

/** Objects hold their keys in a list until they have this many: a manifest has 100,000 entries of 3 keys each. */
const SET_THRESHOLD = 8;

function pathOf(stack: readonly Frame[], root: string): string {
  let path = root;
  for (const frame of stack) {
    if (frame.array) path = `${path}[${frame.index}]`;
    else if (frame.key !== null) path = fieldPath(path, frame.key);
    if (path.length > MAX_PATH_CHARS) return `${path.slice(0, MAX_PATH_CHARS)}…`;
  }
  return path === "" ? "(top level)" : path;
}

/** Index of the quote closing the string whose opening quote is at `start`; -1 when it never closes. */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === 92) backslashes++;
    if (backslashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

/**
 * One pass over JSON text for what JSON.parse does not report: nesting
 * deeper than `maxDepth` (found before JSON.parse runs) and a key repeated
 * within one object (JSON.parse keeps the last silently, so two readers
 * could see two different documents). Never throws and always ends, on any
 * input: text that is not JSON is left to JSON.parse to name.
 */
function scan(text: string, maxDepth: number, root: string, maxKeys: number): { tooDeep?: string; tooMany?: string; duplicate?: string } {
  const stack: Frame[] = [];
  let duplicate: string | undefined;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      const end = stringEnd(text, i);
      if (end < 0) break;
      const top = stack.at(-1);
      if (expectKey && top && !top.array) {
        let key = text.slice(i + 1, end);
        if (key.includes("\\")) {
          try {
            key = JSON.parse(text.slice(i, end + 1)) as string;
          } catch {
            // Not a valid string; JSON.parse will say so.
          }
        }
        top.key = key;
        // Stops before the rest is read: the caller bounds the work, not just the answer.
        if ((Array.isArray(top.keys) ? top.keys.length : top.keys.size) >= maxKeys) return { tooMany: pathOf(stack.slice(0, -1), root) };
        if (duplicate === undefined) {
          let seen: boolean;
          if (Array.isArray(top.keys)) {
            seen = top.keys.includes(key);
            top.keys.push(key);
            if (top.keys.length > SET_THRESHOLD) top.keys = new Set(top.keys);
          } else {
            seen = top.keys.has(key);
            top.keys.add(key);
          }
          if (seen) duplicate = pathOf(stack, root);
        }
        expectKey = false;
      }
      i = end;
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (stack.length >= maxDepth) return { tooDeep: pathOf(stack, root) };
      stack.push(c === 91 ? { array: true, index: 0 } : { array: false, key: null, keys: [] });
      expectKey = c === 123;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 44 /* , */) {
      const top = stack.at(-1);
      if (top?.array) top.index++;
      expectKey = top !== undefined && !top.array;
    }
  }
  return { duplicate };
}

/**
 * 8 Mi characters: any hand-written job, and the dist_test form of a 30,000-task one. Located in about
 * 40 ms for such a job, and in at most about 0.5 s for the worst body measured (8 Mi of short numbers
 * on a loaded 2-core machine); the locator is linear and its nesting is bounded before it runs.
 */
const LOCATE_LIMIT_CHARS = 8 * 2 ** 20;

/**
 * Where the text stops being JSON: `tasks.json:3:17: not valid JSON: …` with
 * the line and a caret for a file, `POST jobs body is not valid JSON: line 3,
 * column 17: …` for a request.
 */
function syntaxMessage(text: string, what: string, file: string | undefined, err: Error): string {
  // Finding the place is a second pass at 1-6x JSON.parse's time: for a request past this size
  // (a server's event loop, a hostile client) JSON.parse's own words must do.
  const found = file !== undefined || text.length <= LOCATE_LIMIT_CHARS ? jsonSyntaxProblem(text) : undefined;
  if (!found) return `${what} is not valid JSON (${err.message})`;
  if (file !== undefined) return `${file}:${found.line}:${found.column}: not valid JSON: ${found.problem}\n${caretExcerpt(text, found.offset)}`;
  return `${what} is not valid JSON: line ${found.line}, column ${found.column}: ${found.problem}`;
}

/**
 * JSON.parse for documents from outside (job requests, manifests), refusing
 * what it would accept silently: a key repeated in one object, and nesting
 * deeper than `maxDepth`. Errors are `invalid_input` naming the field path,
 * which starts with `root` when given (`job_json.tasks[3].timeout: …`),
 * else follows `what` (`manifest 1f…: files["a/b"]: …`). A leading byte order
 * mark is dropped. `file` names the file the text came from, for a syntax
 * error given as `file:line:column` with the line shown.
 *
 * @example parseStrictJson('{"a": 1, "a": 2}', { what: "POST jobs body" }) // throws "POST jobs body: a: appears twice …"
 */
export function parseStrictJson(input: string, options: { what: string; root?: string; maxDepth?: number; file?: string; maxKeys?: number }): unknown {
  const { what, root = "", maxDepth = MAX_JSON_DEPTH, file, maxKeys = Number.POSITIVE_INFINITY } = options;
  // A byte order mark, as Windows editors write one: RFC 8259 lets a reader ignore it, and a
  // request decoded by TextDecoder has it dropped already; JSON.parse alone would refuse it.
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const at = (path: string) => (root === "" ? `${what}: ${path}` : path);
  const found = scan(text, maxDepth, root, maxKeys);
  if (found.tooDeep !== undefined) {
    throw new DtError("invalid_input", `${at(found.tooDeep)}: nested deeper than ${maxDepth} levels`);
  }
  if (found.tooMany !== undefined) {
    throw new DtError("too_large", `${at(found.tooMany)}: an object has more than ${maxKeys} keys`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DtError("invalid_input", syntaxMessage(text, what, file, err as Error), { cause: err });
  }
  if (found.duplicate !== undefined) {
    throw new DtError("invalid_input", `${at(found.duplicate)}: appears twice in the same object; JSON readers disagree on which one counts, so dt takes neither`);
  }
  return value;
}

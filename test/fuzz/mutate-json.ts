/**
 * Structural mutation of JSON values, for parsers whose input is JSON: a
 * member swapped for an edge case of another type, removed, multiplied, or
 * a key added (`__proto__` among them), then written back as text even when
 * too deep for JSON.stringify.
 *
 * @example
 *   const body = jsonText(mutateJson(random, { tasks: [{ description: "t" }] }, ["tasks", "description"]));
 */
import { COMMON_TOKENS, HUGE_NUMBERS, type Random, below, chance, logSize, pick } from "./mutate.ts";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Sets `key` as an own data property, as JSON.parse does, even for "__proto__". */
function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
}

/** A value that is deep without recursion, so building it cannot overflow the stack. */
function deepValue(random: Random, depth: number): Json {
  let value: Json = chance(random, 0.5) ? [] : 1;
  for (let i = 0; i < depth; i++) {
    if (chance(random, 0.5)) value = [value];
    else {
      const wrapper: Record<string, Json> = {};
      setOwn(wrapper, "a", value);
      value = wrapper;
    }
  }
  return value;
}

/** A value of any JSON type that is an edge case of its type. */
export function interestingValue(random: Random, tokens: readonly string[] = COMMON_TOKENS): Json {
  const r = random;
  switch (below(r, 12)) {
    case 0:
      return pick(r, [null, true, false]);
    case 1:
      return pick(r, [0, -0, -1, 1, 1.5, 1e308, -1e308, Infinity, -Infinity, NaN, 2 ** 53 + 2, -(2 ** 53) - 2, 2 ** 31, -(2 ** 31) - 1, 5e-324]);
    case 2:
      return pick(r, ["", " ", "\0", "\uD800", "\uFFFD", "a\0b", "\n", "..", "/", "%00", "-1", "0", "1e3", "true", "null"]);
    case 3:
      return pick(r, tokens);
    case 4:
      return pick(r, ["a", " ", "\\", "😀", "\0", "é"]).repeat(logSize(r, 300_000));
    case 5:
      return pick(r, ["a", "A", "0", "f", "g", "é"]).repeat(pick(r, [63, 64, 65, 128]));
    case 6:
      return [];
    case 7:
      return {};
    case 8:
      // Deeper nesting is cheaper to make as text: the byte Mutator's nesting edit does.
      return deepValue(r, logSize(r, 5_000));
    case 9: {
      const object: Record<string, Json> = {};
      setOwn(object, pick(r, ["__proto__", "constructor", "prototype", "toString", "tasks", "length"]), chance(r, 0.5) ? {} : pick(r, tokens));
      return object;
    }
    case 10:
      return Array.from({ length: logSize(r, 20_000) }, () => (chance(r, 0.5) ? null : 0));
    default:
      return pick(r, HUGE_NUMBERS);
  }
}

const isObject = (value: unknown): value is Record<string, Json> => value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * A deep copy that keeps own "__proto__" keys as keys. Iterative, so a
 * 100,000-deep value is copied too; nothing is shared, so an edit of the
 * copy can never make a cycle through the original.
 */
export function cloneJson(value: Json): Json {
  const copyOf = (node: Json): Json => (node === null || typeof node !== "object" ? node : Array.isArray(node) ? new Array<Json>(node.length) : {});
  const root = copyOf(value);
  const work: [Json, Json][] = [[value, root]];
  while (work.length > 0) {
    const [from, to] = work.pop()!;
    if (Array.isArray(from)) {
      const out = to as Json[];
      from.forEach((item, i) => {
        out[i] = copyOf(item);
        work.push([item, out[i]!]);
      });
    } else if (isObject(from)) {
      for (const [k, item] of Object.entries(from)) {
        const copy = copyOf(item);
        setOwn(to as Record<string, Json>, k, copy);
        work.push([item, copy]);
      }
    }
  }
  return root;
}

/** The arrays and objects inside `value` (at most `limit`), found without recursion. */
function containers(value: Json, limit = 10_000): (Json[] | Record<string, Json>)[] {
  const found: (Json[] | Record<string, Json>)[] = [];
  const stack: Json[] = [value];
  while (stack.length > 0 && found.length < limit) {
    const node = stack.pop()!;
    if (Array.isArray(node)) {
      found.push(node);
      if (node.length <= 100) stack.push(...node);
    } else if (isObject(node)) {
      found.push(node);
      stack.push(...Object.values(node));
    }
  }
  return found;
}

/** The most JSON text one multiplying edit adds. */
const MAX_COPIES_CHARS = 1 << 20;

/**
 * One structural edit of a copy of `value`: a member replaced by an
 * interesting value, removed, duplicated many times, or a key added
 * (`__proto__` among them). `keys` are names the parser knows.
 */
export function mutateJson(random: Random, value: Json, keys: readonly string[]): Json {
  const r = random;
  const root = cloneJson(value);
  const nodes = containers(root);
  if (nodes.length === 0) return interestingValue(r);
  const node = pick(r, nodes);
  const fresh = () => (chance(r, 0.15) ? cloneJson(pick(r, [value, ...nodes.slice(0, 20)]) as Json) : interestingValue(r, keys));
  if (Array.isArray(node)) {
    const i = below(r, node.length + 1);
    switch (below(r, 4)) {
      case 0:
        node.splice(i, 1);
        break;
      case 1:
        node.splice(i, 0, fresh());
        break;
      case 2: {
        if (node.length === 0) break;
        // Many copies of a member, but not past MAX_COPIES_CHARS of JSON in all: a thousand 100 KB strings would take seconds to write.
        const member = node[i % node.length]!;
        const copies = Math.min(logSize(r, 1_000), Math.floor(MAX_COPIES_CHARS / Math.max(1, jsonText(member).length)));
        for (let c = 0; c < copies; c++) node.push(cloneJson(member));
        break;
      }
      default:
        node[Math.min(i, Math.max(0, node.length - 1))] = fresh();
    }
    return root;
  }
  const existing = Object.keys(node);
  switch (below(r, 3)) {
    case 0:
      if (existing.length > 0) delete node[pick(r, existing)];
      break;
    case 1:
      setOwn(node, chance(r, 0.7) ? pick(r, keys) : pick(r, ["__proto__", "constructor", "", "\0", "a".repeat(logSize(r, 10_000))]), fresh());
      break;
    default:
      if (existing.length > 0) setOwn(node, pick(r, existing), fresh());
  }
  return root;
}

/**
 * JSON text of `value`, as JSON.stringify writes it, but without recursion:
 * a 100,000-deep value is written too (JSON.parse reads it back; it is what
 * a hostile client sends).
 */
export function jsonText(value: Json): string {
  try {
    return JSON.stringify(value);
  } catch {
    // Too deep for JSON.stringify: below.
  }
  const out: string[] = [];
  // Each entry is a value still to write, or a literal piece of text.
  const stack: (Json | { text: string })[] = [value];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (item !== null && typeof item === "object" && textMarks.has(item)) {
      out.push((item as { text: string }).text);
    } else if (Array.isArray(item)) {
      stack.push(mark("]"));
      for (let i = item.length - 1; i >= 0; i--) {
        stack.push(item[i] === undefined ? null : item[i]!);
        if (i > 0) stack.push(mark(","));
      }
      out.push("[");
    } else if (isObject(item)) {
      const entries = Object.entries(item);
      stack.push(mark("}"));
      for (let i = entries.length - 1; i >= 0; i--) {
        stack.push(entries[i]![1]);
        stack.push(mark(`${JSON.stringify(entries[i]![0])}:`));
        if (i > 0) stack.push(mark(","));
      }
      out.push("{");
    } else {
      out.push(JSON.stringify(item) ?? "null");
    }
  }
  return out.join("");
}

/** The pieces of literal text jsonText pushed itself, told apart from data objects that happen to look alike. */
const textMarks = new WeakSet<object>();
function mark(text: string): { text: string } {
  const piece = { text };
  textMarks.add(piece);
  return piece;
}

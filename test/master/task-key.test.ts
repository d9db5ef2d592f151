/** A task's key (src/master/reuse/task-key.ts, docs/reuse.md): what changes it and what does not. */
import { expect, test } from "bun:test";
import { parseCaseFilter } from "../../src/master/cases/case-filter.ts";
import { canonicalJson, taskKey, type KeyedTask } from "../../src/master/reuse/task-key.ts";

const base: KeyedTask = {
  isolateHash: "a".repeat(64), env: { A: "1", B: "2" }, dimensions: { os: "linux" }, timeoutSec: 60, shardIndex: null, shardCount: null,
  caseFilter: null, caseSelection: null, artifactGlobs: ["*.log"], resultGlobs: null,
};

test("the key is 64 hex digits and the same for the same properties, whatever the order of keys in env and dimensions, or their prototype", () => {
  const key = taskKey(base);
  expect(key).toMatch(/^[0-9a-f]{64}$/);
  const env: Record<string, string> = Object.create(null);
  env.B = "2";
  env.A = "1";
  expect(taskKey({ ...base, env, dimensions: { os: "linux" } })).toBe(key);
});

test("every property of the key changes it", () => {
  const key = taskKey(base);
  const changes: [string, Partial<KeyedTask>][] = [
    ["isolate", { isolateHash: "b".repeat(64) }], ["env value", { env: { A: "1", B: "3" } }], ["env key", { env: { A: "1", C: "2" } }],
    ["no env", { env: {} }], ["dimensions", { dimensions: { os: "mac" } }], ["timeout", { timeoutSec: 61 }],
    ["shard", { shardIndex: 0, shardCount: 2 }], ["other shard", { shardIndex: 1, shardCount: 2 }],
    ["case filter", { caseFilter: parseCaseFilter({ env: "MY_FILTER" }, "case_filter") }],
    ["case selection", { caseSelection: { include: [{ suite: "S", name: "a" }] } }], ["exclusion", { caseSelection: { exclude: [{ suite: "S", name: "a" }] } }],
    ["artifact globs", { artifactGlobs: ["*.txt"] }], ["artifact glob order", { artifactGlobs: ["*.log", "*.txt"] }], ["result globs", { resultGlobs: [] }],
  ];
  const seen = new Set([key]);
  for (const [what, over] of changes) {
    const changed = taskKey({ ...base, ...over });
    expect({ what, same: seen.has(changed) }).toEqual({ what, same: false });
    seen.add(changed);
  }
});

test("canonical JSON sorts object keys at every level, keeps list order, and tells strings that look alike apart", () => {
  expect(canonicalJson({ b: [3, { z: 1, a: 2 }], a: null })).toBe('{"a":null,"b":[3,{"a":2,"z":1}]}');
  expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  // A separator inside a value cannot forge another pair: values are JSON strings.
  expect(canonicalJson({ a: 'x","b":"y' })).not.toBe(canonicalJson({ a: "x", b: "y" }));
  expect(canonicalJson({ "é": "\u0000" })).toBe('{"é":"\\u0000"}');
});

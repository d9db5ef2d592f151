/**
 * Job JSON for fuzzing: valid requests as dist_test's client and dt's send
 * them, a generator of mutated bodies (structural and byte-level), and the
 * in-process target of validateJobRequest (src/master/jobs/job-request.ts).
 */
import { DtError } from "../../src/common/errors.ts";
import { parseStrictJson } from "../../src/common/strict-json.ts";
import { JOB_LIMITS, validateJobRequest } from "../../src/master/jobs/job-request.ts";
import { type FuzzTarget, showBytes, shrinkBytes } from "./harness.ts";
import { Mutator, type Random, chance, lenientText, pick, utf8 } from "./mutate.ts";
import { type Json, jsonText, mutateJson } from "./mutate-json.ts";

const HASH_A = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
const HASH_B = "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9";

/** Requests that must be accepted: dist_test client's, dt's with every field, the smallest. */
export const JOB_SEEDS: readonly Json[] = [
  {
    tasks: [
      { isolate_hash: HASH_A, description: "pass_test", timeout: 0, max_retries: 0, artifact_archive_globs: ["build/*/**"] },
      { isolate_hash: HASH_B, description: "fail_test", timeout: 870, max_retries: 1, artifact_archive_globs: [], docker_image: "", attempt: 0 },
    ],
  },
  {
    // ["__proto__"] is computed, so it is an own key as in parsed JSON, not the object's prototype.
    job_id: "kudu.alice.1700000000.42",
    name: "kudu",
    user: "alice",
    priority: 5,
    tasks: [
      {
        isolate_hash: HASH_A, description: "tablet-test", timeout: 600, max_retries: 2, artifact_archive_globs: ["build/test-logs/*", "**/*.xml"],
        result_globs: ["reports/**/TEST-*.xml", "gtest.xml"], env: { KUDU_ALLOW_SLOW_TESTS: "1", ["__proto__"]: "kept" }, dimensions: { os: "linux", pool: "big" }, priority: -3, shards: 4,
      },
    ],
  },
  { tasks: [{ isolate_hash: HASH_B, description: "é 😀 <b>&amp;</b>" }] },
];

/** Every key the validator knows, and a few it must refuse. */
export const JOB_KEYS: readonly string[] = [
  "job_id", "name", "user", "priority", "tasks", "isolate_hash", "description", "timeout", "max_retries", "artifact_archive_globs", "result_globs", "env",
  "dimensions", "shards", "docker_image", "attempt", "GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS", "isolated_hash", "timout", HASH_A, "..", "/etc/*",
];

/**
 * Mutated job bodies: half structural (a member swapped for a value of
 * another type, keys added and removed, arrays multiplied), half byte-level
 * edits of the JSON text (broken syntax, deep nesting, invalid UTF-8).
 */
export function jobBodies(random: Random, seeds: readonly Json[] = JOB_SEEDS): () => Uint8Array {
  const texts = seeds.map((seed) => utf8(JSON.stringify(seed)));
  const bytes = new Mutator(random, { seeds: texts, dictionary: JOB_KEYS.map((key) => JSON.stringify(key)) });
  return () => {
    if (chance(random, 0.5)) return bytes.next();
    let value = pick(random, seeds);
    const edits = 1 + Math.floor(random() * 3);
    for (let i = 0; i < edits; i++) value = mutateJson(random, value, JOB_KEYS);
    const text = utf8(jsonText(value));
    return chance(random, 0.2) ? bytes.mutate(text) : text;
  };
}

/** A few properties every accepted job has, so a validator that lets a bad one through is noticed too. */
function checkValidJob(job: ReturnType<typeof validateJobRequest>): void {
  if (job.tasks.length < 1 || job.tasks.length > JOB_LIMITS.maxTasks) throw new Error(`accepted a job of ${job.tasks.length} tasks`);
  const ids = new Set<string>();
  for (const task of job.tasks) {
    if (ids.has(task.taskId)) throw new Error(`accepted a job with task id ${task.taskId} twice`);
    ids.add(task.taskId);
    if (task.description === "" || task.description.length > JOB_LIMITS.maxDescription) throw new Error(`accepted description ${JSON.stringify(task.description)}`);
    for (const value of Object.values(task.env)) if (typeof value !== "string") throw new Error(`accepted an env value of type ${typeof value}`);
  }
}

/**
 * validateJobRequest on each body twice: behind parseStrictJson, as both job
 * endpoints call it, and on what plain JSON.parse makes of the body (any
 * depth, a repeated key keeping its last value), since it takes any
 * `unknown` and must not rely on its callers.
 */
export const jobRequestTarget: FuzzTarget<Uint8Array> = {
  seeds: JOB_SEEDS.map((seed) => utf8(JSON.stringify(seed))),
  inputs: (random) => jobBodies(random),
  run(input) {
    const text = lenientText(input);
    let plain: unknown;
    try {
      plain = JSON.parse(text);
    } catch {
      // Not JSON: parseStrictJson below refuses it with a DtError.
    }
    if (plain !== undefined) {
      try {
        checkValidJob(validateJobRequest(plain));
      } catch (err) {
        if (!(err instanceof DtError)) throw err;
      }
    }
    checkValidJob(validateJobRequest(parseStrictJson(text, { what: "fuzz job" })));
  },
  show: showBytes,
  shrink: shrinkBytes,
};

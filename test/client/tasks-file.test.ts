/**
 * Tasks files as dt submit, dt loop and dt local read them: refused as the
 * master would refuse the job (a key it does not know, with a guess), a
 * syntax error named file:line:column, and the odd input decided one way.
 */
import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { firstInvalidUtf8, parseTasks, readTasksFile } from "../../src/client/tasks-file.ts";
import { seededRandom } from "../helpers/prng.ts";
import { DtError } from "../../src/common/errors.ts";
import { commandDescriptions, readLocalTasks } from "../../src/local/archive-tasks.ts";
import { validateJobRequest } from "../../src/master/jobs/job-request.ts";
import { EXIT } from "../../src/commands/exit-codes.ts";
import { CLI_TEST_TIMEOUT_MS, cliEnv, runCli } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";

const temps = new TempDirs();
afterAll(() => temps.cleanup());
const HASH = "ab".repeat(32);

async function file(text: string | Uint8Array, name = "tasks.json"): Promise<string> {
  const path = join(await temps.make("dt-tasks-"), name);
  writeFileSync(path, text);
  return path;
}

function refusal(read: () => unknown): string {
  try {
    read();
  } catch (err) {
    expect(err).toBeInstanceOf(DtError);
    expect((err as DtError).code).toBe("invalid_input");
    return (err as Error).message;
  }
  throw new Error("accepted");
}

test("a misspelt key is refused with the master's words, by dt submit's reader and dt local's", async () => {
  const path = await file(JSON.stringify({ tasks: [{ isolate_hash: HASH, description: "a", timout: 30 }] }));
  const message = `${path}: tasks[0].timout: is not a field dt knows; did you mean timeout?`;
  expect(refusal(() => readTasksFile(path))).toStartWith(message);
  expect(refusal(() => readLocalTasks(path))).toStartWith(message);
  // dt local's own key is dt local's only.
  const local = await file(JSON.stringify({ tasks: [{ isolate: "x.isolate", description: "a" }] }));
  expect(readLocalTasks(local).json.tasks[0]).toEqual({ isolate: "x.isolate", description: "a" });
  expect(refusal(() => readTasksFile(local))).toContain("tasks[0].isolate: is not a field dt knows; did you mean isolate_hash?");
  const both = await file(JSON.stringify({ tasks: [{ isolate: "x.isolate", isolate_hash: HASH, description: "a" }] }));
  expect(refusal(() => readLocalTasks(both))).toBe(`${both}: tasks[0] has both isolate and isolate_hash; give one`);
});

test("dt local checks the other fields too before archiving anything", async () => {
  const path = await file(JSON.stringify({ tasks: [{ isolate: "missing.isolate", description: "a", timeout: "30" }] }));
  expect(refusal(() => readLocalTasks(path))).toStartWith(`${path}: tasks[0].timeout must be a non-negative number`);
});

test("dist_test's docker_image and attempt are accepted, left out of the request, and reported", async () => {
  const path = await file(JSON.stringify({ tasks: [{ isolate_hash: HASH, description: "a", docker_image: "x", attempt: 0 }] }));
  expect(readTasksFile(path)).toEqual({ tasks: [{ isolate_hash: HASH, description: "a" }], ignoredKeys: ["attempt", "docker_image"] });
});

test("a key beside tasks is refused: a job's settings come from flags", async () => {
  const path = await file(JSON.stringify({ tasks: [{ isolate_hash: HASH, description: "a" }], priority: 3 }));
  expect(refusal(() => readTasksFile(path))).toBe(`${path}: "priority" is not read from a tasks file, which holds only {"tasks": [...]}; give a job's name and priority with -n and --priority`);
});

test("a syntax error names file:line:column and shows the line with a caret", async () => {
  const path = await file(`{"tasks": [\n  {"isolate_hash": "${HASH}",\n   "description": "a" "timeout": 3}\n]}\n`);
  expect(refusal(() => readTasksFile(path))).toBe(
    `${path}:3:23: not valid JSON: ',' or '}' was expected, found '"'\n     "description": "a" "timeout": 3}\n${" ".repeat(2 + 22)}^`,
  );
  const repeated = await file(`{"tasks": [{"isolate_hash": "${HASH}", "description": "a", "timeout": 1, "timeout": 2}]}`);
  expect(refusal(() => readTasksFile(repeated))).toContain("tasks[0].timeout: appears twice");
});

test("odd input: a byte order mark is dropped, -0 is 0, a lone surrogate and a backslash glob are refused naming the field", async () => {
  const bom = await file(new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(JSON.stringify({ tasks: [{ isolate_hash: HASH, description: "a" }] }))]));
  expect(readTasksFile(bom).tasks).toEqual([{ isolate_hash: HASH, description: "a" }]);
  const zero = parseTasks(JSON.parse(`{"tasks": [{"isolate_hash": "${HASH}", "description": "a", "timeout": -0, "max_retries": -0, "priority": -0}]}`), "t.json");
  for (const value of [zero.tasks[0]!.timeout, zero.tasks[0]!.max_retries, zero.tasks[0]!.priority]) expect(Object.is(value, 0)).toBe(true);
  const surrogate = await file(`{"tasks": [{"isolate_hash": "${HASH}", "description": "a\\ud800b"}]}`);
  expect(refusal(() => readTasksFile(surrogate))).toStartWith(`${surrogate}: tasks[0].description: holds a lone UTF-16 surrogate`);
  const glob = await file(JSON.stringify({ tasks: [{ isolate_hash: HASH, description: "a", artifact_archive_globs: ["..\\x"] }] }));
  expect(refusal(() => readTasksFile(glob))).toStartWith(`${glob}: tasks[0].artifact_archive_globs[0]: "..\\\\x" holds '\\'; separate directories with '/'`);
});

test("result_globs is carried into the request as given, and refused naming the file and field as the master would", async () => {
  const path = await file(JSON.stringify({ tasks: [{ isolate_hash: HASH, description: "a", result_globs: ["reports/*.xml"] }, { isolate_hash: HASH, description: "b" }] }));
  expect(readTasksFile(path).tasks).toEqual([{ isolate_hash: HASH, description: "a", result_globs: ["reports/*.xml"] }, { isolate_hash: HASH, description: "b" }]);
  const climbing = await file(JSON.stringify({ tasks: [{ isolate_hash: HASH, description: "a", result_globs: ["../*.xml"] }] }));
  expect(refusal(() => readTasksFile(climbing))).toStartWith(`${climbing}: tasks[0].result_globs[0]: "../*.xml" climbs out with '..'; globs match only inside the task's outputs (ISOLATED_OUTDIR)`);
  const notList = await file(JSON.stringify({ tasks: [{ isolate_hash: HASH, description: "a", result_globs: "*.xml" }] }));
  expect(refusal(() => readTasksFile(notList))).toBe(`${notList}: tasks[0].result_globs must be a list of strings`);
});

test(
  "dt local refuses a misspelt key with exit 2 before it starts a master (nothing in its data dir)",
  async () => {
    const home = await temps.make("dt-home-");
    const path = await file(JSON.stringify({ tasks: [{ isolate: "x.isolate", description: "a", timout: 30 }] }));
    const dataDir = join(home, "data");
    const r = await runCli(["local", "--data-dir", dataDir, path], { env: cliEnv(home) });
    expect(r.exitCode).toBe(EXIT.invalidInput);
    expect(r.stderr).toStartWith(`dt local: ${path}: tasks[0].timout: is not a field dt knows; did you mean timeout?`);
    expect(await Bun.file(dataDir).exists()).toBe(false);
  },
  CLI_TEST_TIMEOUT_MS,
);

test(
  "dt submit reports a tasks file's syntax error with file:line:column before it looks for a master (none is configured here)",
  async () => {
    const home = await temps.make("dt-home-");
    const path = join(home, "tasks.json");
    writeFileSync(path, '{"tasks": [\n  {"isolate_hash": "x",, }\n]}\n');
    const r = await runCli(["submit", path], { env: cliEnv(home) });
    expect(r.exitCode).toBe(EXIT.invalidInput);
    expect(r.stderr).toStartWith(`dt submit: ${path}:2:24: not valid JSON`);
  },
  CLI_TEST_TIMEOUT_MS,
);

test("dt local --dir: a command's description is one line, cut to 100 characters without splitting a surrogate pair, so the master takes it", () => {
  // sh -c takes scripts of several lines; a description cut at 100 code units split the emoji's pair.
  const commands = ["cat input.txt\necho ok", `echo ${"a".repeat(94)}\u{1f600}\u{1f600}`, "\tmake  test\r\n"];
  const descriptions = commandDescriptions(commands);
  expect(descriptions).toEqual(["cat input.txt echo ok", `echo ${"a".repeat(94)}`, "make test"]);
  expect(() => validateJobRequest({ tasks: descriptions.map((description) => ({ isolate_hash: HASH, description })) })).not.toThrow();
  expect(refusal(() => commandDescriptions(["true", " \n"]))).toBe('command 2 after -- is blank (" \\n"); each command after -- runs as one task with sh -c');
});

test(
  "dt local --dir refuses a blank command with exit 2 before it starts a master",
  async () => {
    const home = await temps.make("dt-home-");
    const dataDir = join(home, "data");
    const r = await runCli(["local", "--dir", home, "--data-dir", dataDir, "--", ""], { env: cliEnv(home) });
    expect({ code: r.exitCode, stderr: r.stderr }).toEqual({ code: EXIT.invalidInput, stderr: 'dt local: command 1 after -- is blank (""); each command after -- runs as one task with sh -c\n' });
    expect(await Bun.file(dataDir).exists()).toBe(false);
  },
  CLI_TEST_TIMEOUT_MS,
);

test("a tasks file that is not UTF-8 is refused saying so, not read with U+FFFD in place of its letters", async () => {
  const json = JSON.stringify({ tasks: [{ isolate_hash: HASH, description: "café" }] });
  const utf16 = await file(new Uint8Array([0xff, 0xfe, ...[...json].flatMap((c) => [c.charCodeAt(0), 0])]));
  expect(refusal(() => readTasksFile(utf16))).toBe(`task file ${utf16} is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8`);
  // Latin-1: é is the one byte 0xe9.
  const latin1 = await file(new Uint8Array([...Buffer.from("{\n"), ...[...json.slice(1)].map((c) => c.charCodeAt(0))]));
  const at = "{\n".length + json.indexOf("é") - 1;
  expect(refusal(() => readTasksFile(latin1))).toBe(`task file ${latin1}:2: byte ${at} (0xe9) is not UTF-8; save the file as UTF-8`);
  expect(readTasksFile(await file(json)).tasks[0]!.description).toBe("café");
});

test("firstInvalidUtf8 agrees with the UTF-8 decoder on random bytes", () => {
  const random = seededRandom(8);
  // Bytes around the boundaries of table 3-7: ASCII, continuations, lead bytes, the invalid ones.
  const pool = [0x41, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff];
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  for (let n = 0; n < 20_000; n++) {
    const bytes = new Uint8Array(Array.from({ length: 1 + Math.floor(random() * 6) }, () => pool[Math.floor(random() * pool.length)]!));
    let valid = true;
    try {
      decoder.decode(bytes);
    } catch {
      valid = false;
    }
    const at = firstInvalidUtf8(bytes);
    expect({ bytes: [...bytes], valid: at === bytes.length }).toEqual({ bytes: [...bytes], valid });
    // The prefix before it is valid.
    if (!valid) expect(() => decoder.decode(bytes.subarray(0, at))).not.toThrow();
  }
});

test('shards "auto" with its keys and a case_filter reach the request; a mistake in them is refused as the master refuses it', () => {
  const caseFilter = { arg: "-Dtest={cases}", separator: ",", case: "{suite}#{name}", exclude: "-Dtest=!{cases}" };
  const { tasks } = parseTasks({ tasks: [{ isolate_hash: HASH, description: "a", shards: "auto", shard_seconds: 30, max_shards: 4, case_filter: caseFilter }] }, "t.json");
  expect(tasks).toEqual([{ isolate_hash: HASH, description: "a", shards: "auto", shard_seconds: 30, max_shards: 4, case_filter: caseFilter }]);
  expect(refusal(() => parseTasks({ tasks: [{ isolate_hash: HASH, description: "a", max_shards: 4 }] }, "t.json"))).toStartWith('t.json: tasks[0].max_shards: only applies to "shards": "auto"');
  expect(refusal(() => parseTasks({ tasks: [{ isolate_hash: HASH, description: "a", shards: "auto", case_filter: { env: "T" } }] }, "t.json"))).toStartWith("t.json: tasks[0].case_filter: has no \"exclude\" form");
  expect(refusal(() => parseTasks({ tasks: [{ isolate_hash: HASH, description: "a", shards: "many" }] }, "t.json"))).toContain("tasks[0].shards");
});

import { afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { execute } from "../../src/isolate/run/execute.ts";
import { TempDirs } from "../helpers/temp.ts";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

test("a log file that cannot be written is reported, and the command still runs to its end", async () => {
  const dir = await temps.make("dt-exec-");
  const result = await execute({
    command: ["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 4"],
    cwd: dir,
    env,
    timeoutSec: 0,
    gracePeriodSec: 1,
    stdoutPath: join(dir, "no-such-dir", "stdout"),
    stderrPath: join(dir, "stderr"),
  });
  expect(result.exitCode).toBe(4);
  expect(result.logError).toContain("no-such-dir");
  expect(readFileSync(join(dir, "stderr"), "utf8")).toBe("to-stderr\n");
});

test("the kill signal SIGKILLs a command that ignores SIGTERM without waiting for the grace period", async () => {
  const dir = await temps.make("dt-exec-");
  const cancel = new AbortController();
  const kill = new AbortController();
  const started = performance.now();
  const running = execute({
    // Says it is ready once the trap is set, so the signals below are not sent too early.
    command: ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"],
    cwd: dir,
    env,
    timeoutSec: 0,
    gracePeriodSec: 60,
    stdoutPath: join(dir, "stdout"),
    stderrPath: join(dir, "stderr"),
    signal: cancel.signal,
    kill: kill.signal,
  });
  const deadline = Date.now() + 5_000;
  while (!readFileSync(join(dir, "stdout"), { encoding: "utf8", flag: "a+" }).includes("ready")) {
    if (Date.now() > deadline) throw new Error("the command never said it was ready");
    await new Promise((r) => setTimeout(r, 10));
  }
  cancel.abort();
  kill.abort();
  const result = await running;
  expect(result.signal).toBe("SIGKILL");
  expect(result.canceled).toBe(true);
  // Far below the 60 s grace period.
  expect(performance.now() - started).toBeLessThan(10_000);
});

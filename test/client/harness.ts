import { afterEach } from "bun:test";
import { type CommandDef, runCommand } from "citty";
import { join } from "node:path";
import { Writable } from "node:stream";
import { ManualClock } from "../../src/common/clock.ts";
import { exitCodeOf } from "../../src/commands/exit-codes.ts";
import type { ClientIo } from "../../src/client/io.ts";
import { TempDirs } from "../helpers/temp.ts";
import { FakeMaster } from "./fake-master.ts";

/** A stream that keeps what is written to it. */
export class Captured extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += String(chunk);
    callback();
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ClientWorld {
  master: FakeMaster;
  dir: string;
  /** The job path file (DIST_TEST_JOB_PATH). */
  jobPath: string;
  clock: ManualClock;
  /** Every wait the client asked for, in ms: virtual time, no real sleeping. */
  sleeps: number[];
  env: Record<string, string>;
  /** Runs a command in process, as src/main.ts would: thrown errors become exit codes and a `dt: …` line on stderr. */
  run: (command: CommandDef<any>, rawArgs: string[], options?: RunOptions) => Promise<RunResult>;
}

export interface RunOptions {
  tty?: boolean;
  interrupt?: AbortSignal;
}

/**
 * For a test file of client commands: a fake master, a temp dir and a HOME
 * per test, torn down in afterEach. Time is a ManualClock that the client's
 * sleeps advance, so progress lines and backoff are exact.
 */
export function useClientWorld(): () => Promise<ClientWorld> {
  const temps = new TempDirs();
  const masters: FakeMaster[] = [];
  afterEach(async () => {
    for (const m of masters.splice(0)) await m.stop();
    await temps.cleanup();
  });
  return async () => {
    const dir = await temps.make("dt-client-");
    const master = await FakeMaster.start();
    masters.push(master);
    const clock = new ManualClock(1_700_000_000_000);
    const sleeps: number[] = [];
    const jobPath = join(dir, "last-job");
    const env = { HOME: join(dir, "home"), DIST_TEST_MASTER: master.url, DIST_TEST_JOB_PATH: jobPath, DIST_TEST_USER: "alice" };
    const run = async (command: CommandDef<any>, rawArgs: string[], options: RunOptions = {}): Promise<RunResult> => {
      const stdout = new Captured();
      const stderr = new Captured();
      let code = 0;
      const io: ClientIo = {
        stdout,
        stderr,
        isTTY: options.tty ?? false,
        color: options.tty ?? false,
        clock,
        sleep: async (ms) => {
          sleeps.push(ms);
          clock.advance(ms);
        },
        env,
        fetch,
        retry: { attempts: 2, delayMs: 5 },
        pid: 4242,
        downloadConcurrency: 3,
        interrupt: options.interrupt ?? new AbortController().signal,
        setExitCode: (c) => {
          code = c;
        },
      };
      try {
        await runCommand(command, { rawArgs, data: { io } });
      } catch (err) {
        stderr.write(`dt: ${(err as Error).message}\n`);
        code = (err as Error).name === "CLIError" ? 2 : exitCodeOf(err);
      }
      return { code, stdout: stdout.text, stderr: stderr.text };
    };
    return { master, dir, jobPath, clock, sleeps, env, run };
  };
}

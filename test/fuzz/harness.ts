/**
 * Runs a fuzz target for a bounded time: in a worker thread, so that an
 * input that makes the parser loop forever (even inside a regex, which no
 * timer can interrupt) is reported with the input instead of hanging the
 * suite. Seed and budget come from the environment:
 *
 *   DT_FUZZ_SEED  the PRNG seed (decimal, 0x hex, or "random"); each test has a fixed default
 *   DT_FUZZ_MS    fuzzing time per test in ms (default FUZZ_DEFAULT_MS)
 *
 * @example
 *   const report = await fuzzInWorker(new URL("./ini.target.ts", import.meta.url), "iniTarget", fuzzSettings("ini", 0x1417));
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DtError, type DtErrorCode } from "../../src/common/errors.ts";
import { seededRandom } from "../helpers/prng.ts";
import type { Random } from "./mutate.ts";

/** A few seconds per parser keeps the whole fuzz suite near half a minute; set DT_FUZZ_MS for a longer session. */
export const FUZZ_DEFAULT_MS = 4_000;

/**
 * Slowest acceptable call. Inputs reach 2 MiB; a linear parser takes tens of
 * ms on them, a quadratic one seconds. Generous for a loaded 2-core CI
 * machine, and a slow call is retried once before it counts, so a GC pause
 * is not a failure.
 */
export const MAX_CALL_MS = 1_000;

/** No progress for this long is a hang: the worker is stopped and its input reported. */
export const HANG_MS = 10_000;

export interface FuzzSettings {
  name: string;
  seed: number;
  budgetMs: number;
}

/**
 * The seed and time budget of one fuzz test, from DT_FUZZ_SEED and DT_FUZZ_MS;
 * printed so a failure can be replayed. `share` scales the budget, for a
 * parser fuzzed by several tests.
 */
export function fuzzSettings(name: string, defaultSeed: number, share = 1, env: Record<string, string | undefined> = process.env): FuzzSettings {
  const seedText = env.DT_FUZZ_SEED?.trim();
  const seed = !seedText ? defaultSeed : seedText === "random" ? Math.floor(Math.random() * 2 ** 32) : Number(seedText);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`DT_FUZZ_SEED must be a non-negative integer (or "random"), got ${JSON.stringify(seedText)}`);
  const totalMs = env.DT_FUZZ_MS ? Number(env.DT_FUZZ_MS) : FUZZ_DEFAULT_MS;
  if (!Number.isFinite(totalMs) || totalMs < 0) throw new Error(`DT_FUZZ_MS must be a number of milliseconds, got ${JSON.stringify(env.DT_FUZZ_MS)}`);
  const budgetMs = Math.round(totalMs * share);
  console.log(`fuzz ${name}: seed 0x${(seed >>> 0).toString(16)} (replay with DT_FUZZ_SEED=${seed}), ${budgetMs} ms`);
  return { name, seed: seed >>> 0, budgetMs };
}

/** The per-test timeout bun needs for a fuzz test: its budget plus room to start, detect a hang, minimize and stop. */
export const fuzzTestTimeoutMs = (settings: FuzzSettings, setupMs = 40_000): number => settings.budgetMs + HANG_MS + setupMs;

/** A parser under fuzzing, in a module a worker can import. */
export interface FuzzTarget<T> {
  /** Valid inputs: each must be accepted, or the mutations start from nothing useful. */
  seeds: readonly T[];
  /** A generator of inputs drawing only on `random`, so the n-th input of a seed is always the same. */
  inputs(random: Random): () => T;
  /** Feeds one input to the parser; may be async. */
  run(input: T): unknown;
  /** The input as a literal to paste into a regression test. */
  show(input: T): string;
  /** Smaller variants of a failing input, tried in order to minimize it. */
  shrink?(input: T): Iterable<T>;
  /** DtError codes that count as a correct refusal; default invalid_input and too_large. */
  accepts?: readonly DtErrorCode[];
  /** Prepares files the target needs in `dir`, a fresh directory removed after the run. */
  setup?(dir: string): void | Promise<void>;
}

export interface FuzzReport {
  name: string;
  seed: number;
  inputs: number;
  /** Inputs the parser accepted; the rest it refused with a DtError. */
  accepted: number;
  elapsedMs: number;
  slowestMs: number;
}

/** What a failing input did, and the input, minimized when the target can shrink it. */
export interface FuzzFailure {
  problem: string;
  input: string;
  minimized: string | undefined;
  /** Where the full input was written when it is too long to print. */
  file: string | undefined;
}

type Outcome = { kind: "accepted" | "refused"; ms: number } | { kind: "failed"; ms: number; problem: string };

async function tryOnce<T>(target: FuzzTarget<T>, input: T): Promise<Outcome> {
  const accepts = target.accepts ?? ["invalid_input", "too_large"];
  const started = performance.now();
  try {
    await target.run(input);
    return { kind: "accepted", ms: performance.now() - started };
  } catch (err) {
    const ms = performance.now() - started;
    if (err instanceof DtError && accepts.includes(err.code)) return { kind: "refused", ms };
    const what = err instanceof DtError ? `DtError ${err.code}` : (err as Error)?.constructor?.name ?? typeof err;
    return { kind: "failed", ms, problem: `threw ${what}: ${(err as Error)?.message ?? String(err)}\n${(err as Error)?.stack ?? ""}` };
  }
}

/** One input's outcome; a slow call is tried again and fails only when it is slow twice. */
async function check<T>(target: FuzzTarget<T>, input: T, maxCallMs: number): Promise<Outcome> {
  let outcome = await tryOnce(target, input);
  if (outcome.kind !== "failed" && outcome.ms > maxCallMs) outcome = await tryOnce(target, input);
  if (outcome.kind !== "failed" && outcome.ms > maxCallMs) return { kind: "failed", ms: outcome.ms, problem: `took ${outcome.ms.toFixed(0)} ms twice (limit ${maxCallMs} ms)` };
  return outcome;
}

/** Long enough to cut a few-KB input down to its culprit; a 2 MiB one stays partly cut. */
const MINIMIZE_MS = 5_000;

/** Greedy minimization: adopts the first smaller variant that still fails, for at most `budgetMs`. */
async function minimize<T>(target: FuzzTarget<T>, input: T, maxCallMs: number, budgetMs: number): Promise<T> {
  if (!target.shrink) return input;
  const deadline = performance.now() + budgetMs;
  let current = input;
  let improved = true;
  while (improved && performance.now() < deadline) {
    improved = false;
    for (const candidate of target.shrink(current)) {
      if (performance.now() >= deadline) break;
      if ((await check(target, candidate, maxCallMs)).kind === "failed") {
        current = candidate;
        improved = true;
        break;
      }
    }
  }
  return current;
}

/** Inputs longer than this are written to a file rather than printed whole. */
const PRINT_LIMIT = 2_000;

function describeFailure<T>(target: FuzzTarget<T>, settings: FuzzSettings, problem: string, input: T, minimized: T | undefined): FuzzFailure {
  const shown = target.show(input);
  const shownMinimized = minimized === undefined ? undefined : target.show(minimized);
  const cut = (text: string) => (text.length > PRINT_LIMIT ? `${text.slice(0, PRINT_LIMIT)}… (${text.length} characters in all)` : text);
  let file: string | undefined;
  if (shown.length > PRINT_LIMIT || (shownMinimized?.length ?? 0) > PRINT_LIMIT) {
    file = join(tmpdir(), `dt-fuzz-${settings.name.replace(/\W+/g, "-")}-${settings.seed}.txt`);
    writeFileSync(file, `${problem}\n\ninput:\n${shown}\n${shownMinimized === undefined ? "" : `\nminimized:\n${shownMinimized}\n`}`);
  }
  return { problem, input: cut(shown), minimized: shownMinimized === undefined ? undefined : cut(shownMinimized), file };
}

/** Slots of the progress array the worker shares with the watchdog. */
const INPUTS_STARTED = 0;
/** GENERATING while the next input is made, RUNNING while the parser has it. */
const PHASE = 1;
const GENERATING = 1;
const RUNNING = 2;

/**
 * The fuzz loop, run inside the worker: inputs until the budget is spent or
 * one fails. `progress` tells the watchdog how far it got.
 */
export async function runTarget<T>(
  target: FuzzTarget<T>,
  settings: FuzzSettings,
  progress: Int32Array,
  dir: string,
  limits: Pick<FuzzLimits, "maxCallMs" | "minimizeMs"> = { maxCallMs: MAX_CALL_MS, minimizeMs: MINIMIZE_MS },
): Promise<{ report: FuzzReport } | { failure: FuzzFailure }> {
  const { maxCallMs } = limits;
  await target.setup?.(dir);
  for (const seed of target.seeds) {
    const outcome = await check(target, seed, maxCallMs);
    if (outcome.kind !== "accepted") {
      const problem = outcome.kind === "failed" ? outcome.problem : "was refused, but seeds must be valid inputs";
      return { failure: describeFailure(target, settings, `a seed ${problem}`, seed, undefined) };
    }
  }
  const next = target.inputs(seededRandom(settings.seed));
  const started = performance.now();
  const deadline = started + settings.budgetMs;
  const report: FuzzReport = { name: settings.name, seed: settings.seed, inputs: 0, accepted: 0, elapsedMs: 0, slowestMs: 0 };
  while (performance.now() < deadline) {
    Atomics.store(progress, PHASE, GENERATING);
    const input = next();
    Atomics.store(progress, INPUTS_STARTED, ++report.inputs);
    Atomics.store(progress, PHASE, RUNNING);
    const outcome = await check(target, input, maxCallMs);
    if (outcome.kind === "failed") {
      const problem = `input #${report.inputs} of seed ${settings.seed} ${outcome.problem}`;
      return { failure: describeFailure(target, settings, problem, input, await minimize(target, input, maxCallMs, limits.minimizeMs)) };
    }
    if (outcome.kind === "accepted") report.accepted++;
    report.slowestMs = Math.max(report.slowestMs, outcome.ms);
  }
  report.elapsedMs = performance.now() - started;
  return { report };
}

/** The n-th input (1-based) of a target's generator, rebuilt without running the parser. */
function replayInput<T>(target: FuzzTarget<T>, seed: number, n: number): T {
  const next = target.inputs(seededRandom(seed));
  let input = next();
  for (let i = 1; i < n; i++) input = next();
  return input;
}

export class FuzzFailed extends Error {
  constructor(settings: FuzzSettings, failure: FuzzFailure) {
    const lines = [`fuzz ${settings.name}: ${failure.problem}`, `input: ${failure.input}`];
    if (failure.minimized !== undefined) lines.push(`minimized: ${failure.minimized}`);
    if (failure.file) lines.push(`both in full in ${failure.file}`);
    super(lines.join("\n"));
    this.name = "FuzzFailed";
  }
}

/** Limits of one run; the defaults suit every parser, the harness's own test sets shorter ones. */
export interface FuzzLimits {
  maxCallMs: number;
  hangMs: number;
  /** Time spent shrinking a failing input. */
  minimizeMs: number;
}

/**
 * Fuzzes the target exported as `exportName` from `module` in a worker for
 * `settings.budgetMs`. Resolves with the counts (also printed); rejects with
 * FuzzFailed naming the input that crashed, was too slow, or hung.
 */
export async function fuzzInWorker(module: URL, exportName: string, settings: FuzzSettings, limits: Partial<FuzzLimits> = {}): Promise<FuzzReport> {
  const dir = mkdtempSync(join(tmpdir(), "dt-fuzz-"));
  try {
    return await runWorker(module, exportName, settings, dir, { maxCallMs: MAX_CALL_MS, hangMs: HANG_MS, minimizeMs: MINIMIZE_MS, ...limits });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runWorker(module: URL, exportName: string, settings: FuzzSettings, dir: string, limits: FuzzLimits): Promise<FuzzReport> {
  const progress = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(new URL("./worker.ts", import.meta.url).href);
  const answer = new Promise<{ report: FuzzReport } | { failure: FuzzFailure } | { error: string }>((resolve) => {
    worker.onmessage = (event) => resolve(event.data);
    worker.onerror = (event) => resolve({ error: event.message });
  });
  worker.postMessage({ module: module.href, exportName, settings, progress: progress.buffer, dir, limits });
  let watchdog: ReturnType<typeof setInterval> | undefined;
  const hang = new Promise<{ hungAt: number; generating: boolean }>((resolve) => {
    let last = -1;
    let lastChange = performance.now();
    watchdog = setInterval(() => {
      const now = Atomics.load(progress, INPUTS_STARTED);
      if (now !== last) [last, lastChange] = [now, performance.now()];
      // Starting (importing the target, checking its seeds) gets 20 s more.
      else if (performance.now() - lastChange > limits.hangMs + (now === 0 ? 20_000 : 0)) resolve({ hungAt: now, generating: Atomics.load(progress, PHASE) === GENERATING });
    }, 200);
  });
  const result = await Promise.race([answer, hang]);
  clearInterval(watchdog);
  // A worker stuck in a regex ignores terminate until the regex ends; unref it so it cannot keep the process alive.
  worker.terminate();
  worker.unref();
  if ("hungAt" in result) {
    const none = { input: "(none)", minimized: undefined, file: undefined };
    if (result.generating) throw new FuzzFailed(settings, { problem: `the generator hung making input #${result.hungAt + 1} (a bug in the fuzz test)`, ...none });
    if (result.hungAt === 0) throw new FuzzFailed(settings, { problem: "did not start within 30 s (importing the target or checking its seeds)", ...none });
    const target = ((await import(module.href)) as Record<string, FuzzTarget<unknown>>)[exportName]!;
    const problem = `input #${result.hungAt} of seed ${settings.seed} did not finish within ${limits.hangMs} ms`;
    throw new FuzzFailed(settings, describeFailure(target, settings, problem, replayInput(target, settings.seed, result.hungAt), undefined));
  }
  if ("error" in result) throw new Error(`fuzz ${settings.name}: the worker failed: ${result.error}`);
  if ("failure" in result) throw new FuzzFailed(settings, result.failure);
  const { report } = result;
  console.log(
    `fuzz ${report.name}: ${report.inputs} inputs in ${report.elapsedMs.toFixed(0)} ms, ${report.accepted} accepted, ` +
      `${report.inputs - report.accepted} refused with DtError, slowest ${report.slowestMs.toFixed(1)} ms`,
  );
  return report;
}

/** Shorter versions of `input`: chunks of halving size cut out, then single bytes. */
export function* shrinkBytes(input: Uint8Array): Iterable<Uint8Array> {
  for (let chunk = input.length >> 1; chunk >= 1; chunk >>= 1) {
    for (let at = 0; at + chunk <= input.length; at += chunk) {
      const out = new Uint8Array(input.length - chunk);
      out.set(input.subarray(0, at), 0);
      out.set(input.subarray(at + chunk), at);
      yield out;
    }
  }
}

/** Shorter versions of a string, as shrinkBytes does for bytes. */
export function* shrinkText(input: string): Iterable<string> {
  for (let chunk = input.length >> 1; chunk >= 1; chunk >>= 1) {
    for (let at = 0; at + chunk <= input.length; at += chunk) yield input.slice(0, at) + input.slice(at + chunk);
  }
}

/** Bytes as a JS literal: a string when they are UTF-8, else Buffer.from(hex). */
export function showBytes(input: Uint8Array): string {
  try {
    return JSON.stringify(new TextDecoder("utf-8", { fatal: true }).decode(input));
  } catch {
    return `Buffer.from("${Buffer.from(input).toString("hex")}", "hex")`;
  }
}

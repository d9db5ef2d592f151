/**
 * Readiness: whether a server can do its work now, from checks of what it
 * depends on (database, queue, stores), each bounded in time so a hung
 * dependency makes the probe fail rather than hang. `/healthz` stays
 * liveness only: the process serves.
 *
 * @example
 *   app.get("/readyz", readinessHandler([{ name: "database", check: () => repo.ping() }]));
 *   // 200 {"ok":true,"checks":{"database":{"ok":true,"ms":1}}}
 *   // 503 {"ok":false,"error":"not ready: database: ...","code":"unreachable","checks":{...}}
 */
import type { Handler } from "hono";
import { unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DtError } from "../errors.ts";

/**
 * How long one check may take (ms). Load balancers and Kubernetes probe
 * every few seconds with a timeout of about a second or more; a dependency
 * slower than 2 s to answer a trivial request is as good as down.
 */
export const READINESS_TIMEOUT_MS = 2_000;

export interface ReadinessCheck {
  /** What is checked, as it appears in the answer: `database`, `queue`, `artifacts`, `cas`. */
  name: string;
  /** Resolves when the dependency answered; rejects saying why not. */
  check: () => Promise<unknown>;
}

export type CheckResult = { ok: true; ms: number } | { ok: false; ms: number; error: string };

export interface Readiness {
  ok: boolean;
  checks: Record<string, CheckResult>;
}

/** Runs every check at once, each within `timeoutMs`. */
export async function checkReadiness(checks: readonly ReadinessCheck[], timeoutMs = READINESS_TIMEOUT_MS): Promise<Readiness> {
  const results = await Promise.all(checks.map(async ({ name, check }) => [name, await timed(check, timeoutMs)] as const));
  return { ok: results.every(([, r]) => r.ok), checks: Object.fromEntries(results) };
}

async function timed(check: () => Promise<unknown>, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)));
  try {
    // A check that throws synchronously fails like one that rejects.
    await Promise.race([Promise.resolve().then(check), late]);
    return { ok: true, ms: ms() };
  } catch (err) {
    return { ok: false, ms: ms(), error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `GET /readyz`: 200 with every check's result, or 503 naming the failed
 * ones with their errors (in `error` and `code` as every dt error answer,
 * so clients print it as they print others). `checks` may be a function,
 * for checks that depend on state known only later.
 */
export function readinessHandler(checks: readonly ReadinessCheck[] | (() => readonly ReadinessCheck[]), timeoutMs = READINESS_TIMEOUT_MS): Handler {
  return async (c) => {
    const readiness = await checkReadiness(typeof checks === "function" ? checks() : checks, timeoutMs);
    c.header("Cache-Control", "no-store");
    if (readiness.ok) return c.json(readiness, 200);
    const failed = Object.entries(readiness.checks).flatMap(([name, r]) => (r.ok ? [] : [`${name}: ${r.error}`]));
    return c.json({ ok: false, error: `not ready: ${failed.join("; ")}`, code: "unreachable", checks: readiness.checks }, 503);
  };
}

/**
 * Resolves when a file can be made in `dir` (and is removed again): the
 * directory is there, writable, on a filesystem that is not read-only.
 * Rejects with DtError unreachable naming `what` and the directory.
 */
export async function checkWritableDir(dir: string, what: string): Promise<void> {
  const probe = join(dir, `.ready-${process.pid}-${crypto.randomUUID().slice(0, 8)}`);
  try {
    await writeFile(probe, "");
    await unlink(probe);
  } catch (err) {
    throw new DtError("unreachable", `${what} ${dir} cannot be written: ${(err as Error).message}`, { cause: err });
  }
}

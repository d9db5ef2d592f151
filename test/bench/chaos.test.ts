/**
 * Smoke test of bench/chaos.ts itself: one quick scenario (`big` scaled
 * down to 30 tasks) on the embedded backend, end to end through the real
 * command, so the harness (cluster start, `dt submit` clients, marks,
 * verdict, table, clean-up) keeps working between full runs of the bench.
 */
import { afterEach, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../helpers/temp.ts";

const BENCH = join(import.meta.dir, "..", "..", "bench", "chaos.ts");
/** A master, two slaves and three clients start in a few seconds; a loaded 2-core machine may take several times that. */
const SMOKE_DEADLINE_MS = 60_000;

const temps = new TempDirs();
afterEach(() => temps.cleanup());

test("bun bench/chaos.ts --backend embedded --scenario big --tasks 30 passes and prints its row", async () => {
  const work = await temps.make("dt-chaos-smoke-");
  const child = Bun.spawn([process.execPath, BENCH, "--backend", "embedded", "--scenario", "big", "--tasks", "30", "--work", work], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: SMOKE_DEADLINE_MS,
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  expect(code, `${stdout}\n${stderr}`).toBe(0);
  // scenario | backend | finished | tasks lost | duplicates | retries | requeues | recovery | procs left | wall s | verdict
  const row = stdout.split("\n").find((line) => /^\| big\s+\| embedded/.test(line));
  expect(row, stdout).toBeDefined();
  const cells = row!.split("|").map((c) => c.trim()).slice(1, -1);
  expect(cells.slice(2, 7)).toEqual(["yes", "0", "0", "0", "0"]);
  expect(cells.at(-1)).toBe("pass");
  expect(readFileSync(join(work, "last-results.md"), "utf8")).toContain(row!);
  // Everything the run made is gone: the scratch dir with the master's data, marks and task files.
  expect(existsSync(join(work, "scratch"))).toBe(false);
}, SMOKE_DEADLINE_MS + 10_000);

test("a bad flag exits 2 naming it and the scenarios there are", async () => {
  const child = Bun.spawn([process.execPath, BENCH, "--scenario", "nope"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stderr, code] = await Promise.all([new Response(child.stderr).text(), child.exited]);
  expect(code).toBe(2);
  expect(stderr).toContain("--scenario nope: not one of slave-kill, master-kill");
});

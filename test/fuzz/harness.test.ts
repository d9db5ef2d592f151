import { describe, expect, test } from "bun:test";
import { FuzzFailed, fuzzInWorker, fuzzSettings } from "./harness.ts";

/** The harness on parsers broken on purpose: each failure must be caught and named with its input. */
describe("the fuzz harness", () => {
  const targets = new URL("./harness-targets.ts", import.meta.url);
  const settings = { name: "harness self-test", seed: 1, budgetMs: 5_000 };

  async function failure(exportName: string, limits = {}): Promise<string> {
    const error = await fuzzInWorker(targets, exportName, settings, limits).then(() => undefined, (err: unknown) => err);
    expect(error).toBeInstanceOf(FuzzFailed);
    return (error as Error).message;
  }

  test("an exception other than DtError is reported with the input minimized to the byte that causes it", async () => {
    const message = await failure("crashingTarget");
    expect(message).toContain("threw TypeError: not a DtError");
    expect(message).toContain('minimized: "!"');
  });

  test("a slow call is reported with its input", async () => {
    // No time to minimize: each slow candidate costs two slow calls.
    expect(await failure("slowTarget", { maxCallMs: 100, minimizeMs: 0 })).toMatch(/took \d+ ms twice \(limit 100 ms\)\ninput: .*(!|21[0-9a-f]*", "hex"\))/);
  });

  test("an input that never returns is reported after the hang limit, rebuilt from the seed", async () => {
    const message = await failure("hangingTarget", { hangMs: 1_000 });
    // The input holds the "!" (hex 21 when the rest is not UTF-8).
    expect(message).toMatch(/input #\d+ of seed 1 did not finish within 1000 ms\ninput: .*(!|21[0-9a-f]*", "hex"\))/);
  });

  test("DT_FUZZ_SEED and DT_FUZZ_MS set the seed and the budget", () => {
    expect(fuzzSettings("x", 7, 1, {})).toEqual({ name: "x", seed: 7, budgetMs: 4_000 });
    expect(fuzzSettings("x", 7, 0.5, { DT_FUZZ_SEED: "0x10", DT_FUZZ_MS: "60000" })).toEqual({ name: "x", seed: 16, budgetMs: 30_000 });
    expect(fuzzSettings("x", 7, 1, { DT_FUZZ_SEED: "random" }).seed).toBeGreaterThanOrEqual(0);
    expect(() => fuzzSettings("x", 7, 1, { DT_FUZZ_SEED: "-1" })).toThrow("DT_FUZZ_SEED");
  });
});

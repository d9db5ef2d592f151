/**
 * mapTree (src/isolate/run/map.ts) on real files: a big tree is laid out
 * without holding up the event loop, which a slave's heartbeat and its
 * other slots' log forwarding share with it.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { IsolatedEntry } from "../../src/isolate/manifest.ts";
import { mapTree } from "../../src/isolate/run/map.ts";
import { TempDirs } from "../helpers/temp.ts";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

describe("mapTree", () => {
  // Copies cost far more than links: as many of each as take a few hundred ms even on a quiet machine.
  for (const [readOnly, count] of [[0, 1000], [1, 10_000]] as const) {
    test(`a tree of ${count} files (${readOnly === 0 ? "writable: copied" : "read-only: hardlinked"}) is mapped with turns for the event loop`, async () => {
      const dir = await temps.make("dt-map-");
      // 100 blobs, each at many paths, as identical files in a tree are.
      const blobPaths = new Map<string, string>();
      for (let b = 0; b < 100; b++) {
        const blob = join(dir, `blob${b}`);
        writeFileSync(blob, `blob ${b}\n`.repeat(100));
        blobPaths.set(`h${b}`, blob);
      }
      const files: Record<string, IsolatedEntry> = {};
      for (let i = 0; i < count; i++) files[`d${i % 30}/f${i}`] = { h: `h${i % 100}`, s: statSync(blobPaths.get(`h${i % 100}`)!).size, m: 0o755 };
      let turns = 0;
      const timer = setInterval(() => turns++, 1);
      const started = performance.now();
      let stats;
      try {
        stats = await mapTree({ files, command: [], relativeCwd: "", readOnly }, blobPaths, join(dir, "run"), () => Promise.reject(new Error("nothing is evicted here")));
      } finally {
        clearInterval(timer);
      }
      const totalMs = performance.now() - started;
      expect(stats).toEqual(readOnly === 0 ? { linked: 0, copied: count, symlinks: 0 } : { linked: count, copied: 0, symlinks: 0 });
      expect(readFileSync(join(dir, "run", "d17", "f707"), "utf8")).toBe("blob 7\n".repeat(100));
      // A turn every 10 ms or so now; one per 50 ms on average leaves room for a loaded machine. Before, not one: the loop was held for the whole tree.
      expect(turns, `${turns} turns in ${totalMs.toFixed(0)} ms`).toBeGreaterThanOrEqual(Math.floor(totalMs / 50));
      if (totalMs >= 100) expect(turns).toBeGreaterThan(0);
    }, 60_000);
  }
});

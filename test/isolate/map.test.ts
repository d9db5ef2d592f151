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
  for (const readOnly of [0, 1] as const) {
    test(`a tree of 1,000 files (${readOnly === 0 ? "writable: copied" : "read-only: hardlinked"}) is mapped with turns for the event loop`, async () => {
      const dir = await temps.make("dt-map-");
      const blobPaths = new Map<string, string>();
      const files: Record<string, IsolatedEntry> = {};
      for (let i = 0; i < 1000; i++) {
        const blob = join(dir, `blob${i}`);
        writeFileSync(blob, `file ${i}\n`.repeat(100));
        blobPaths.set(`h${i}`, blob);
        files[`d${i % 30}/f${i}`] = { h: `h${i}`, s: statSync(blob).size, m: 0o755 };
      }
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
      expect(stats).toEqual(readOnly === 0 ? { linked: 0, copied: 1000, symlinks: 0 } : { linked: 1000, copied: 0, symlinks: 0 });
      expect(readFileSync(join(dir, "run", "d17", "f707"), "utf8")).toBe("file 707\n".repeat(100));
      // A turn every 10 ms or so now; one per 50 ms on average leaves room for a loaded machine. Before, not one: the loop was held for the whole tree.
      expect(turns, `${turns} turns in ${totalMs.toFixed(0)} ms`).toBeGreaterThanOrEqual(Math.floor(totalMs / 50));
      if (totalMs >= 100) expect(turns).toBeGreaterThan(0);
    }, 60_000);
  }
});

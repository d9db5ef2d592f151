import { describe, expect, test } from "bun:test";
import { MemoryReclaimer, RECLAIM_MIN_UNITS } from "../../src/common/reclaim.ts";

describe("MemoryReclaimer", () => {
  test("collects once after a burst of big work, and not after small work", async () => {
    let collected = 0;
    const r = new MemoryReclaimer(() => collected++, 20, 0);
    r.after(RECLAIM_MIN_UNITS - 1);
    await Bun.sleep(60);
    expect(collected).toBe(0);
    r.after(RECLAIM_MIN_UNITS);
    r.after(RECLAIM_MIN_UNITS * 10);
    await Bun.sleep(60);
    expect(collected).toBe(1);
    expect(r.collections).toBe(1);
  });

  test("collections are spaced: work soon after one waits for the spacing to pass", async () => {
    let collected = 0;
    const r = new MemoryReclaimer(() => collected++, 10, 300);
    r.after(RECLAIM_MIN_UNITS);
    await Bun.sleep(50);
    expect(collected).toBe(1);
    r.after(RECLAIM_MIN_UNITS);
    await Bun.sleep(100);
    expect(collected).toBe(1);
    await Bun.sleep(300);
    expect(collected).toBe(2);
  });

  test("work asking again and again, closer together than the delay, still gets its collection", async () => {
    let collected = 0;
    const r = new MemoryReclaimer(() => collected++, 50, 0);
    // A page polling a big job every 20 ms: each read asks; a timer pushed back at each ask would never fire.
    for (let i = 0; i < 8; i++) {
      r.after(RECLAIM_MIN_UNITS);
      await Bun.sleep(20);
    }
    expect(collected).toBeGreaterThanOrEqual(2);
    r.close();
  });

  test("close drops a pending collection", async () => {
    let collected = 0;
    const r = new MemoryReclaimer(() => collected++, 20);
    r.after(RECLAIM_MIN_UNITS);
    r.close();
    await Bun.sleep(60);
    expect(collected).toBe(0);
  });
});

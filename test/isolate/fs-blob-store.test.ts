import { expect, test } from "bun:test";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../src/common/clock.ts";
import { FsBlobStore } from "../../src/isolate/cas/fs-blob-store.ts";
import { digestOfBytes } from "../../src/isolate/digest.ts";
import { blobStoreConformance } from "./blob-store.conformance.ts";

blobStoreConformance({
  name: "filesystem",
  makeClock: () => new ManualClock(),
  async open(clock) {
    const dir = await mkdtemp(join(tmpdir(), "dt-fs-store-"));
    return {
      store: await FsBlobStore.open(dir, clock),
      reopen: () => FsBlobStore.open(dir, clock),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  async openLost(clock) {
    const dir = await mkdtemp(join(tmpdir(), "dt-fs-store-"));
    const store = await FsBlobStore.open(dir, clock);
    await rm(dir, { recursive: true, force: true });
    return { store, where: dir, cleanup: async () => {} };
  },
});

test("blobs are read-only files and a failed upload leaves no temp file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "dt-fs-store-"));
  try {
    const store = await FsBlobStore.open(dir, new ManualClock());
    const d = digestOfBytes("file mode");
    await store.put(d, new TextEncoder().encode("file mode"));
    const st = await stat(join(dir, "blobs", d.hash.slice(0, 2), d.hash));
    expect(st.mode & 0o777).toBe(0o444);
    await store.put(digestOfBytes("other"), new TextEncoder().encode("not other")).catch(() => {});
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("last use survives a restart through the file's mtime", async () => {
  const dir = await mkdtemp(join(tmpdir(), "dt-fs-store-"));
  try {
    const clock = new ManualClock();
    let store = await FsBlobStore.open(dir, clock);
    const old = digestOfBytes("old");
    const used = digestOfBytes("used");
    await store.put(old, new TextEncoder().encode("old"));
    await store.put(used, new TextEncoder().encode("used"));
    clock.advance(3_600_000);
    await store.findMissing([used]);
    await store.close();
    store = await FsBlobStore.open(dir, clock);
    await store.trim({ maxBytes: 4, minAgeMs: 0 });
    expect((await store.findMissing([old, used])).map((d) => d.hash)).toEqual([old.hash]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a blob used every 30 s still has its last use persisted, so it outlives a colder one after a restart", async () => {
  const dir = await mkdtemp(join(tmpdir(), "dt-fs-store-"));
  try {
    const clock = new ManualClock();
    let store = await FsBlobStore.open(dir, clock);
    const hot = digestOfBytes("hot!");
    const cold = digestOfBytes("cold");
    await store.put(hot, new TextEncoder().encode("hot!"));
    clock.advance(10_000);
    await store.put(cold, new TextEncoder().encode("cold"));
    for (let i = 0; i < 6; i++) {
      clock.advance(30_000);
      await store.findMissing([hot]);
    }
    await store.close();
    store = await FsBlobStore.open(dir, clock);
    await store.trim({ maxBytes: 4, minAgeMs: 0 });
    expect((await store.findMissing([hot, cold])).map((d) => d.hash)).toEqual([cold.hash]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

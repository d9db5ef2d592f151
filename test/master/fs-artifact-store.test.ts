import { expect, test } from "bun:test";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FsArtifactStore } from "../../src/master/artifacts/fs-artifact-store.ts";
import { artifactStoreConformance, serveArtifacts } from "./artifact-store.conformance.ts";

artifactStoreConformance({
  name: "filesystem",
  async open() {
    const dir = await mkdtemp(join(tmpdir(), "dt-artifacts-"));
    const store = new FsArtifactStore(dir);
    const server = serveArtifacts(() => store);
    return {
      store,
      masterUrl: server.url,
      cleanup: async () => {
        server.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  async openLost() {
    const dir = await mkdtemp(join(tmpdir(), "dt-artifacts-"));
    const store = new FsArtifactStore(dir);
    await rm(dir, { recursive: true, force: true });
    return { store, where: dir, cleanup: async () => {} };
  },
});

test("a refused upload leaves neither an object nor a temporary file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "dt-artifacts-"));
  try {
    const store = new FsArtifactStore(dir);
    await store.put("job.t.0.stdout", new Blob(["abc"]).stream(), 4).catch(() => {});
    expect(await store.get("job.t.0.stdout")).toBeNull();
    expect(await readdir(join(dir, ".tmp"))).toEqual([]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

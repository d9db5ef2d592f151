/** The SlaveProvider conformance suite on `dt slave` processes of this host. */
import { join } from "node:path";
import { LocalProvider } from "../../src/autoscale/local-provider.ts";
import { createLogger } from "../../src/common/log.ts";
import { MAIN } from "./harness.ts";
import { providerConformance } from "./provider.conformance.ts";

providerConformance("local", async (bed) => {
  const provider = new LocalProvider({
    masterUrl: bed.url, prefix: "conf", slots: 1, dimensions: { pool: "local" }, cacheDir: join(bed.dir, "cache"), logDir: join(bed.dir, "logs"),
    env: bed.env, log: createLogger({ level: "silent" }), command: [process.execPath, MAIN],
  });
  bed.onCleanup(() => provider.close());
  return {
    provider,
    running: (name) => provider.pids().has(name),
    ours: { name: "conf-7", dimensions: { pool: "local" } },
    theirs: [{ name: "other-1", dimensions: { pool: "local" } }, { name: "conf7", dimensions: { pool: "local" } }],
  };
});

/**
 * A real master (startMasterServer on port 0, SQLite in a temp dir) in a
 * worker thread, for the HTTP fuzz tests: a request that made a handler spin
 * would block this thread only, so the fuzz loop can time the request out,
 * report it and stop the worker. Error log lines are posted to the parent, so
 * a 500 is reported with its cause.
 */
import { Writable } from "node:stream";
import { systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { startMasterServer } from "../../src/master/server.ts";

declare const self: Worker;

export type MasterWorkerMessage = { started: { url: string } } | { log: string } | { stopped: true } | { error: string };

let server: Awaited<ReturnType<typeof startMasterServer>> | undefined;

self.onmessage = async (event: MessageEvent<{ start: { dataDir: string } } | { stop: true }>) => {
  const post = (message: MasterWorkerMessage) => self.postMessage(message);
  try {
    if ("start" in event.data) {
      const stream = new Writable({
        write(chunk, _encoding, done) {
          post({ log: String(chunk) });
          done();
        },
      });
      server = await startMasterServer({
        port: 0, host: "127.0.0.1", db: "sqlite", dataDir: event.data.start.dataDir, clock: systemClock,
        log: createLogger({ level: "error", stream }),
        dispatch: { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, maxWaitMs: 30_000, maxInfraRequeues: 3 },
        // A separate CAS (never contacted): the fuzzers' jobs name manifests nobody uploaded, and are to reach the job validator and the database, not the master's manifest check.
        isolateServer: "http://127.0.0.1:9",
      });
      post({ started: { url: server.url } });
    } else {
      await server?.stop(1_000);
      post({ stopped: true });
    }
  } catch (err) {
    post({ error: (err as Error)?.stack ?? String(err) });
  }
};

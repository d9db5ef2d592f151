import { systemClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { CAS_API_PREFIX } from "../../src/isolate/cas/client.ts";
import { FsBlobStore } from "../../src/isolate/cas/fs-blob-store.ts";
import { IsolateServer } from "../../src/isolate/cas/isolate-server.ts";

/** A real CAS server on 127.0.0.1, port 0, that records the requests it served. */
export interface TestCas {
  url: string;
  dataDir: string;
  /** `METHOD /path` of every request so far, API prefix removed (`POST /missing`). */
  readonly requests: string[];
  /** How many requests matched `METHOD /path`. */
  count(request: string): number;
  /**
   * From now on answer every request with this status (a CAS failing: 503),
   * with dt's JSON error or, given `page`, that text as HTML (a proxy's
   * answer); with null, serve again.
   */
  failWith(status: number | null, page?: string): void;
  /** Stops listening and closes the store; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts an isolate server over a store in `dataDir`, in this process. The
 * server's fetch is wrapped to count requests, so a test can assert e.g.
 * that a batch made exactly one round of presence checks.
 *
 * @example
 *   const cas = await startCas(await temps.make());
 *   try { ... cas.count("POST /missing") ... } finally { await cas.stop(); }
 */
export async function startCas(dataDir: string): Promise<TestCas> {
  const store = await FsBlobStore.open(dataDir, systemClock);
  const server = new IsolateServer({ store, log: createLogger({ level: "silent" }), clock: systemClock });
  const requests: string[] = [];
  let failing: number | null = null;
  let failPage: string | undefined;
  const listener = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req) => {
      const path = new URL(req.url).pathname;
      requests.push(`${req.method} ${path.startsWith(CAS_API_PREFIX) ? path.slice(CAS_API_PREFIX.length) : path}`);
      if (failing !== null && failPage !== undefined) return new Response(failPage, { status: failing, headers: { "Content-Type": "text/html" } });
      if (failing !== null) return Response.json({ error: "the test made this CAS fail", code: "unreachable" }, { status: failing });
      return server.app.fetch(req);
    },
  });
  let stopped = false;
  return {
    url: `http://127.0.0.1:${listener.port}`,
    dataDir,
    requests,
    count: (request) => requests.filter((r) => r === request).length,
    failWith: (status, page) => {
      failing = status;
      failPage = page;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await listener.stop(true);
      await server.close();
    },
  };
}

/** A URL on which nothing listens: a port that was just bound and released. */
export async function closedServerUrl(): Promise<string> {
  const listener = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
  const url = `http://127.0.0.1:${listener.port}`;
  await listener.stop(true);
  return url;
}

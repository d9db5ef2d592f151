/**
 * BeanstalkClient against real beanstalkd servers. The shared server is named
 * by DT_TEST_BEANSTALKD (host:port, e.g. 127.0.0.1:11311, started in CI by
 * scripts/services/beanstalkd.sh); each test uses tubes of its own, so runs
 * may share it. Tests that kill or restart the server, or need a larger job
 * size than the shared server's, start a private beanstalkd
 * (test/helpers/beanstalkd.ts). In-process fake servers cover what a real one
 * will not do on demand: error answers, silence, hanging up.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { isDtError } from "../../src/common/errors.ts";
import { type BeanstalkAddress, BeanstalkClient, type PutOptions, isTubeName, parseBeanstalkUrl } from "../../src/master/queue/beanstalk-client.ts";
import { createLogger } from "../../src/common/log.ts";
import { BeanstalkOfferSink } from "../../src/master/queue/offer-sink.ts";
import { type PrivateBeanstalkd, beanstalkdMissing, freePort, startBeanstalkd } from "../helpers/beanstalkd.ts";
import { TempDirs } from "../helpers/temp.ts";

const SHARED = process.env.DT_TEST_BEANSTALKD;
const MISSING = beanstalkdMissing();
if (!SHARED) console.warn("SKIP test/master/beanstalk-client.test.ts (shared-server tests): DT_TEST_BEANSTALKD is not set; e.g. DT_TEST_BEANSTALKD=127.0.0.1:11311 after scripts/services/beanstalkd.sh");
if (MISSING) console.warn(`SKIP test/master/beanstalk-client.test.ts (private-server tests): ${MISSING}`);

const OPTS: PutOptions = { priority: 100, delaySec: 0, ttrSec: 60 };
const runId = crypto.randomUUID().slice(0, 8);
let tubesMade = 0;
/** A tube no other test or run uses, so tests can share one server. */
const freshTube = () => `dt-test-${runId}-${++tubesMade}`;

const clients: BeanstalkClient[] = [];
const temps = new TempDirs();
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await temps.cleanup();
});

async function open(address: BeanstalkAddress, options?: Parameters<typeof BeanstalkClient.connect>[1]): Promise<BeanstalkClient> {
  const client = await BeanstalkClient.connect(address, options);
  clients.push(client);
  return client;
}

/** A connection that puts into `tube`. */
async function producer(address: BeanstalkAddress, tube: string): Promise<BeanstalkClient> {
  const c = await open(address);
  await c.use(tube);
  return c;
}

/** A connection that reserves from `tube` only. */
async function worker(address: BeanstalkAddress, tube: string): Promise<BeanstalkClient> {
  const c = await open(address);
  await c.watch(tube);
  await c.ignore("default");
  return c;
}

/** The DtError a promise rejects with; fails the test when it resolves or rejects with anything else. */
async function dtErrorOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const err = await promise.then(
    (value) => new Error(`expected a DtError, got ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
  if (!isDtError(err)) throw err;
  return err;
}

const text = (body: Uint8Array) => new TextDecoder().decode(body);

describe("addresses and names", () => {
  test("parseBeanstalkUrl takes beanstalk://, beanstalkd:// and host:port, port 11300 by default", () => {
    expect(parseBeanstalkUrl("beanstalk://queue.example:11301")).toEqual({ host: "queue.example", port: 11301 });
    expect(parseBeanstalkUrl("beanstalkd://10.0.0.5:1")).toEqual({ host: "10.0.0.5", port: 1 });
    expect(parseBeanstalkUrl("127.0.0.1:11300")).toEqual({ host: "127.0.0.1", port: 11300 });
    expect(parseBeanstalkUrl("beanstalk://queue")).toEqual({ host: "queue", port: 11300 });
    expect(parseBeanstalkUrl("[::1]:4000")).toEqual({ host: "::1", port: 4000 });
    for (const bad of ["", "http://queue:11300", "queue:0", "queue:65536", "queue:port", "beanstalk://user@queue:1"]) {
      let err: unknown;
      try {
        parseBeanstalkUrl(bad);
      } catch (e) {
        err = e;
      }
      expect(isDtError(err, "invalid_input"), bad).toBe(true);
      expect((err as Error).message).toContain(JSON.stringify(bad));
    }
  });

  test("isTubeName follows the protocol's alphabet and 200-byte limit", () => {
    for (const ok of ["default", "dt.any", "a+b/c;d.$_()", "0", "x-", "t".repeat(200)]) expect(isTubeName(ok), ok).toBe(true);
    for (const bad of ["", "-x", "a b", "a\r\nb", "t".repeat(201), "é", "a*b", "a:b"]) expect(isTubeName(bad), bad).toBe(false);
  });

  test("connecting where nothing listens is DtError unreachable naming host:port", async () => {
    const port = freePort();
    const err = await dtErrorOf(BeanstalkClient.connect({ host: "127.0.0.1", port }));
    expect(err.code).toBe("unreachable");
    expect(err.message).toContain(`127.0.0.1:${port}`);
  });
});

/**
 * An in-process server that answers each command line, in order like
 * beanstalkd, with what `answer(line)` resolves to: null says nothing,
 * "CLOSE" hangs up.
 */
function fakeServer(answer: (line: string) => string | null | Promise<string | null>) {
  let seen = "";
  let inOrder = Promise.resolve();
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket, chunk) {
        seen += new TextDecoder().decode(chunk);
        let end: number;
        while ((end = seen.indexOf("\r\n")) >= 0) {
          const line = seen.slice(0, end);
          seen = seen.slice(end + 2);
          inOrder = inOrder.then(async () => {
            const reply = await answer(line);
            if (reply === "CLOSE") socket.end();
            else if (reply !== null) socket.write(reply);
          });
        }
      },
    },
  });
  return { address: { host: "127.0.0.1", port: server.port }, stop: () => server.stop(true) };
}

describe("against fake servers", () => {
  const servers: { stop(): void }[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.stop();
  });

  test("server error lines reject their own command, named; the connection stays usable", async () => {
    const answers: Record<string, string> = {
      "touch 1": "INTERNAL_ERROR\r\n",
      "delete 2": "OUT_OF_MEMORY\r\n",
      "kick-job 3": "UNKNOWN_COMMAND\r\n",
      "bury 4 0": "BAD_FORMAT\r\n",
      "peek 5": "EXPECTED_CRLF\r\n",
      "release 6 0 0": "GIBBERISH\r\n",
      "use mine": "USING mine\r\n",
    };
    const server = fakeServer((line) => answers[line] ?? "UNKNOWN_COMMAND\r\n");
    servers.push(server);
    const c = await open(server.address);
    const results = await Promise.allSettled([c.touch(1), c.delete(2), c.kickJob(3), c.bury(4, 0), c.peek(5), c.release(6, 0, 0), c.use("mine")]);
    const words = ["INTERNAL_ERROR", "OUT_OF_MEMORY", "UNKNOWN_COMMAND", "BAD_FORMAT", "EXPECTED_CRLF", "GIBBERISH"];
    const commands = ["touch 1", "delete 2", "kick-job 3", "bury 4 0", "peek 5", "release 6 0 0"];
    for (const [i, r] of results.slice(0, 6).entries()) {
      expect(r.status).toBe("rejected");
      const reason = (r as PromiseRejectedResult).reason;
      expect(isDtError(reason), String(reason)).toBe(true);
      expect(reason.message).toContain(words[i]!);
      expect(reason.message).toContain(`"${commands[i]}"`);
    }
    // The server's trouble is worth a retry; a command it calls malformed, or an answer that fits no command, is dt's bug.
    const codes = results.slice(0, 6).map((r) => (r as PromiseRejectedResult).reason.code);
    expect(codes).toEqual(["unreachable", "unreachable", "internal", "internal", "internal", "internal"]);
    expect(results[6]).toEqual({ status: "fulfilled", value: undefined });
    expect(c.closed).toBe(false);
  });

  test("a server hanging up rejects pending and later commands with unreachable, and closed turns true", async () => {
    const server = fakeServer((line) => (line === "stats" ? "CLOSE" : null));
    servers.push(server);
    const c = await open(server.address);
    const pending = [c.reserveWithTimeout(30), c.stats(), c.listTubes()];
    for (const p of pending) expect((await dtErrorOf(p)).code).toBe("unreachable");
    expect(c.closed).toBe(true);
    const later = await dtErrorOf(c.watch("x"));
    expect(later.code).toBe("unreachable");
    expect(later.message).toContain("watch x");
  });

  test("a silent server: the command timeout closes the connection", async () => {
    const server = fakeServer(() => null);
    servers.push(server);
    const c = await open(server.address, { commandTimeoutMs: 300 });
    const started = performance.now();
    const err = await dtErrorOf(c.stats());
    expect(err.code).toBe("unreachable");
    expect(err.message).toMatch(/did not answer "stats" within 300 ms/);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(c.closed).toBe(true);
  });

  test("a reserve may take its own timeout, and the command behind it is timed only from the reserve's answer", async () => {
    const server = fakeServer(async (line) => {
      if (line !== "reserve-with-timeout 1") return "OK 4\r\n---\n\r\n";
      await Bun.sleep(1_000); // beanstalkd's own wait before TIMED_OUT
      return "TIMED_OUT\r\n";
    });
    servers.push(server);
    const c = await open(server.address, { commandTimeoutMs: 300 });
    const started = performance.now();
    expect(await Promise.all([c.reserveWithTimeout(1), c.stats()])).toEqual([null, {}]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    expect(c.closed).toBe(false);
  });

  test("an answer nobody asked for closes the connection", async () => {
    const server = fakeServer((line) => (line === "stats" ? "OK 4\r\n---\n\r\nTIMED_OUT\r\n" : null));
    servers.push(server);
    const c = await open(server.address);
    await c.stats().catch(() => {});
    const err = await dtErrorOf(c.listTubes());
    expect(err.code).toBe("unreachable");
    expect(c.closed).toBe(true);
  });

  test("close() rejects pending commands and closes", async () => {
    const server = fakeServer(() => null);
    servers.push(server);
    const c = await open(server.address);
    const pending = c.reserveWithTimeout(10);
    c.close();
    expect(c.closed).toBe(true);
    expect((await dtErrorOf(pending)).code).toBe("unreachable");
    expect((await dtErrorOf(c.stats())).code).toBe("unreachable");
  });
});

if (SHARED) {
  describe(`shared beanstalkd (DT_TEST_BEANSTALKD=${SHARED})`, () => sharedServerSuite(parseBeanstalkUrl(SHARED)));
} else {
  describe.skip("shared beanstalkd (DT_TEST_BEANSTALKD is not set)", () => {
    test("needs a beanstalkd server", () => {});
  });
}

function sharedServerSuite(address: BeanstalkAddress): void {
  const tubes: string[] = [];
  const tube = () => {
    const name = freshTube();
    tubes.push(name);
    return name;
  };
  /** A fresh tube with a producer and two workers, and one job that worker `a` holds. */
  const jobHeldByA = async (body: string, ttrSec: number) => {
    const t = tube();
    const p = await producer(address, t);
    const [a, b] = [await worker(address, t), await worker(address, t)];
    const id = await p.put(body, { ...OPTS, ttrSec });
    expect((await a.reserveWithTimeout(0))?.id).toBe(id);
    return { p, a, b, id };
  };
  // Best effort, so a failed test leaves no ready jobs behind in a server others use.
  afterAll(async () => {
    const c = await BeanstalkClient.connect(address).catch(() => null);
    if (!c || tubes.length === 0) return c?.close();
    try {
      for (const name of tubes) await c.watch(name);
      await c.ignore("default");
      for (let job = await c.reserveWithTimeout(0); job; job = await c.reserveWithTimeout(0)) await c.delete(job.id);
    } catch {
      // the server went away: nothing left to clean
    } finally {
      c.close();
    }
  });

  test("use, put, watch, ignore, reserve, delete, peek and stats-job round trip", async () => {
    const t = tube();
    const p = await producer(address, t);
    const w = await open(address);
    expect(w.address).toEqual(address);
    expect(await w.watch(t)).toBe(2);
    expect(await w.listTubesWatched()).toEqual(["default", t]);
    expect(await w.ignore("default")).toBe(1);
    expect(await w.ignore(t)).toBe(1); // the last watched tube: NOT_IGNORED
    expect(await w.listTubesWatched()).toEqual([t]);
    expect(await w.ignore("never-watched")).toBe(1);

    const id = await p.put("hello", { priority: 5, delaySec: 0, ttrSec: 30 });
    expect(id).toBeGreaterThan(0);
    expect(await p.statsJob(id)).toMatchObject({ id, tube: t, state: "ready", pri: 5, ttr: 30, reserves: 0 });
    const job = await w.reserveWithTimeout(1);
    expect(job?.id).toBe(id);
    expect(text(job!.body)).toBe("hello");
    expect(await p.statsJob(id)).toMatchObject({ state: "reserved", reserves: 1 });
    expect(text((await p.peek(id))!.body)).toBe("hello");
    expect(await w.delete(id)).toBe(true);
    expect(await w.delete(id)).toBe(false);
    expect(await p.peek(id)).toBeNull();
    expect(await p.statsJob(id)).toBeNull();
    expect(await w.reserveWithTimeout(0)).toBeNull();
  });

  test("stats, stats-tube and list-tubes", async () => {
    const t = tube();
    const p = await producer(address, t);
    const stats = await p.stats();
    expect(stats["current-connections"]).toBeGreaterThanOrEqual(1);
    expect(typeof stats.version).toBe("string");
    expect(typeof stats.id).toBe("string");
    expect(await p.listTubes()).toContain(t);
    expect(await p.statsTube(t)).toMatchObject({ name: t, "current-using": 1, "current-jobs-ready": 0 });
    expect(await p.statsTube(freshTube())).toBeNull();
  });

  test("lower priority numbers are reserved first; equal priorities in put order", async () => {
    const t = tube();
    const p = await producer(address, t);
    const w = await worker(address, t);
    const put = (body: string, priority: number) => p.put(body, { ...OPTS, priority });
    await Promise.all([put("late", 2 ** 32 - 1), put("b1", 10), put("a", 0), put("b2", 10), put("c", 11)]);
    const order: string[] = [];
    for (let job = await w.reserveWithTimeout(0); job; job = await w.reserveWithTimeout(0)) {
      order.push(text(job.body));
      await w.delete(job.id);
    }
    expect(order).toEqual(["a", "b1", "b2", "c", "late"]);
  });

  test("a reserved job whose TTR passes is ready again for another worker", async () => {
    const { p, a, b, id } = await jobHeldByA("slow", 1);
    expect(await b.reserveWithTimeout(0)).toBeNull();
    // beanstalkd 1.12 often misses the TTR of a job whose holder sends nothing (its timer can fire
    // a moment early and is then not re-armed; beanstalkd PR #334): the job stays reserved until
    // the holder's connection does something. So `a` keeps talking, as a live slave would.
    let waiting = true;
    const holderTalks = (async () => {
      while (waiting) {
        await a.listTubesWatched();
        await Bun.sleep(100);
      }
    })();
    const again = await b.reserveWithTimeout(5).finally(() => (waiting = false)); // ready about 1 s after a took it
    await holderTalks;
    expect(again?.id).toBe(id);
    expect(await p.statsJob(id)).toMatchObject({ state: "reserved", reserves: 2, timeouts: 1 });
    expect(await a.touch(id)).toBe(false); // a no longer holds it
    expect(await b.delete(id)).toBe(true);
  });

  test("DEADLINE_SOON: a reserve by the job's holder returns null at once", async () => {
    const { a, id } = await jobHeldByA("x", 1);
    const started = performance.now();
    expect(await a.reserveWithTimeout(10)).toBeNull();
    expect(performance.now() - started).toBeLessThan(2_500);
    await a.delete(id);
  });

  test("touch on DEADLINE_SOON keeps a job past its TTR: the slave's loop", async () => {
    const { p, a, b, id } = await jobHeldByA("long", 2);
    const started = performance.now();
    // Each reserve returns DEADLINE_SOON about 1 s after the last touch; three rounds outlast the 2 s TTR.
    for (let round = 0; round < 3; round++) {
      expect(await a.reserveWithTimeout(10)).toBeNull();
      expect(await a.touch(id)).toBe(true);
    }
    expect(performance.now() - started).toBeGreaterThan(2_000);
    expect(await b.reserveWithTimeout(0)).toBeNull();
    expect(await p.statsJob(id)).toMatchObject({ state: "reserved", timeouts: 0, reserves: 1 });
    expect(await b.touch(id)).toBe(false); // only the holder may touch
    expect(await a.delete(id)).toBe(true);
  });

  test("release, bury, kick-job and stats-tube through a job's states", async () => {
    const t = tube();
    const p = await producer(address, t);
    const w = await worker(address, t);
    const id = await p.put("job", OPTS);
    await w.reserveWithTimeout(0);
    expect(await w.release(id, 7, 100)).toBe(true);
    expect(await p.statsJob(id)).toMatchObject({ state: "delayed", pri: 7, releases: 1 });
    expect(await p.kickJob(id)).toBe(true);
    expect(await p.statsJob(id)).toMatchObject({ state: "ready" });
    expect((await w.reserveWithTimeout(0))?.id).toBe(id);
    expect(await w.bury(id, 3)).toBe(true);
    expect(await p.statsJob(id)).toMatchObject({ state: "buried", pri: 3, buries: 1 });
    expect(await p.statsTube(t)).toMatchObject({ "current-jobs-buried": 1, "current-jobs-ready": 0 });
    expect(await w.reserveWithTimeout(0)).toBeNull();
    expect(await p.kickJob(id)).toBe(true);
    expect(await p.kickJob(id)).toBe(false); // ready: nothing to kick
    expect(await p.statsJob(id)).toMatchObject({ state: "ready", kicks: 2 }); // the delayed one counted too
    expect(await w.release(id, 0, 0)).toBe(false); // not reserved by w
    expect(await p.delete(id)).toBe(true); // a ready job can be deleted by anyone
    const gone = 2 ** 40;
    expect([await w.touch(gone), await w.release(gone, 0, 0), await w.bury(gone, 0), await w.kickJob(gone), await w.delete(gone)]).toEqual([false, false, false, false, false]);
    expect([await w.peek(gone), await w.statsJob(gone)]).toEqual([null, null]);
  });

  test("binary bodies come back byte for byte: CRLF inside, answer-like text, NUL, 0xff, empty, UTF-8 strings", async () => {
    const t = tube();
    const p = await producer(address, t);
    const w = await worker(address, t);
    const bodies: (Uint8Array | string)[] = [
      new Uint8Array([13, 10, 13, 10]),
      new TextEncoder().encode("RESERVED 1 5\r\nhello\r\nINSERTED 9\r\n"),
      Uint8Array.from({ length: 256 }, (_, i) => i),
      new Uint8Array(0),
      "héllo wörld ✓\r\n",
      new Uint8Array(60_000).map((_, i) => (i * 7919) % 256), // under beanstalkd's default 65,535-byte limit
    ];
    const ids = await Promise.all(bodies.map((b) => p.put(b, OPTS)));
    const expected = bodies.map((b) => (typeof b === "string" ? new TextEncoder().encode(b) : b));
    const reserved = await Promise.all(bodies.map(() => w.reserveWithTimeout(0)));
    expect(reserved.map((j) => j?.id)).toEqual(ids);
    for (const [i, job] of reserved.entries()) expect(Buffer.from(job!.body).equals(expected[i]!), `body ${i}`).toBe(true);
    const peeked = await Promise.all(ids.map((id) => p.peek(id)));
    for (const [i, job] of peeked.entries()) expect(Buffer.from(job!.body).equals(expected[i]!), `peeked body ${i}`).toBe(true);
    expect(await Promise.all(ids.map((id) => w.delete(id)))).toEqual(ids.map(() => true));
  });

  test("2,000 puts, reserves and deletes pipelined in parallel keep their order", async () => {
    const t = tube();
    const p = await producer(address, t);
    const w = await worker(address, t);
    const count = 2_000;
    const ids = await Promise.all(Array.from({ length: count }, (_, i) => p.put(`job-${i}`, OPTS)));
    for (let i = 1; i < count; i++) expect(ids[i]!).toBeGreaterThan(ids[i - 1]!);
    expect(await p.statsTube(t)).toMatchObject({ "current-jobs-ready": count });
    const jobs = await Promise.all(ids.map(() => w.reserveWithTimeout(0)));
    expect(jobs.map((j) => j?.id)).toEqual(ids);
    expect(jobs.map((j) => text(j!.body))).toEqual(ids.map((_, i) => `job-${i}`));
    expect((await Promise.all(ids.map((id) => w.delete(id)))).every(Boolean)).toBe(true);
    expect(await w.reserveWithTimeout(0)).toBeNull();
  });

  test("bad input is refused before sending, and the connection stays usable", async () => {
    const c = await open(address);
    const refusals = [
      c.use("-starts-with-dash"),
      c.watch("has space"),
      c.ignore("x".repeat(201)),
      c.statsTube("a\r\nstats"),
      c.put("x", { ...OPTS, priority: -1 }),
      c.put("x", { ...OPTS, ttrSec: 1.5 }),
      c.reserveWithTimeout(-1),
      c.delete(0),
      c.touch(Number.NaN),
      c.release(1, 2 ** 32, 0),
    ];
    for (const r of refusals) expect((await dtErrorOf(r)).code).toBe("invalid_input");
    expect(c.closed).toBe(false);
    expect(await c.listTubesWatched()).toEqual(["default"]);
  });
}

describe.skipIf(!!MISSING)("private beanstalkd (killed, restarted, or with a larger -z)", () => {
  let server: PrivateBeanstalkd | null = null;
  afterEach(async () => {
    await server?.destroy();
    server = null;
  });

  test("a killed server rejects pending and later commands with unreachable, quickly", async () => {
    server = await startBeanstalkd();
    const s = server!;
    const w = await open(s.address);
    // A blocking reserve and a command pipelined behind it, both waiting when the server dies.
    const pending = Promise.all([w.reserveWithTimeout(20), w.stats()].map(dtErrorOf));
    const started = performance.now();
    await s.stop();
    expect((await pending).map((e) => e.code)).toEqual(["unreachable", "unreachable"]);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(w.closed).toBe(true);
    const later = await dtErrorOf(w.put("x", OPTS));
    expect(later.code).toBe("unreachable");
    const reconnect = await dtErrorOf(BeanstalkClient.connect(s.address, { connectTimeoutMs: 2_000 }));
    expect(reconnect.message).toContain(`127.0.0.1:${s.address.port}`);
  });

  test("the master's offer sink: ping answers while the server runs, rejects unreachable naming it when killed, and answers again after a restart", async () => {
    server = await startBeanstalkd();
    const s = server!;
    const sink = await BeanstalkOfferSink.open(s.address, createLogger({ level: "silent" }));
    try {
      expect(await sink.ping()).toBeUndefined();
      await s.stop();
      const err = await dtErrorOf(sink.ping());
      expect(err.code).toBe("unreachable");
      expect(err.message).toContain(`127.0.0.1:${s.address.port}`);
      await s.restart();
      expect(await sink.ping()).toBeUndefined();
    } finally {
      sink.close();
    }
  });

  test("with a binlog, ready jobs and a job reserved at the kill are ready after a restart", async () => {
    server = await startBeanstalkd({ binlogDir: await temps.make("dt-beanstalkd-binlog-") });
    const s = server!;
    const t = freshTube();
    const p = await producer(s.address, t);
    const w = await worker(s.address, t);
    const ids = await Promise.all(["first", "second", "third"].map((body) => p.put(body, { ...OPTS, ttrSec: 600 })));
    expect((await w.reserveWithTimeout(0))?.id).toBe(ids[0]);
    await s.stop();
    await s.restart();

    const after = await worker(s.address, t);
    expect(await after.statsJob(ids[0]!)).toMatchObject({ state: "ready", tube: t });
    const jobs = [await after.reserveWithTimeout(0), await after.reserveWithTimeout(0), await after.reserveWithTimeout(0)];
    expect(jobs.map((j) => j?.id)).toEqual(ids);
    expect(jobs.map((j) => text(j!.body))).toEqual(["first", "second", "third"]);
    // New ids continue after the replayed ones.
    const next = await (await producer(s.address, t)).put("fourth", OPTS);
    expect(next).toBeGreaterThan(ids[2]!);
  });

  test("eight 1 MiB bodies at once (more than the socket buffer takes) arrive whole; one over the server's -z limit is too_large", async () => {
    const maxJobBytes = 2 * 1024 * 1024;
    server = await startBeanstalkd({ maxJobBytes });
    const s = server!;
    const t = freshTube();
    const p = await producer(s.address, t);
    const w = await worker(s.address, t);
    const mib = 1024 * 1024;
    const bodies = [0, 1, 2, 3, 4, 5, 6, 7].map((seed) => new Uint8Array(mib).map((_, i) => (i * 31 + seed * 17 + (i >> 9)) % 256));
    bodies[0]!.set([13, 10], 1000); // a CRLF well inside
    const ids = await Promise.all(bodies.map((b) => p.put(b, OPTS)));
    const jobs = await Promise.all(bodies.map(() => w.reserveWithTimeout(0)));
    expect(jobs.map((j) => j?.id)).toEqual(ids);
    for (const [i, job] of jobs.entries()) {
      expect(job!.body.length).toBe(mib);
      expect(Buffer.from(job!.body).equals(bodies[i]!), `body ${i}`).toBe(true);
    }
    const tooBig = await dtErrorOf(p.put(new Uint8Array(maxJobBytes + 1), OPTS));
    expect(tooBig.code).toBe("too_large");
    expect(tooBig.message).toContain(String(maxJobBytes + 1));
    // beanstalkd skips the refused body, so the connection is still in step.
    expect(await p.put("small", OPTS)).toBeGreaterThan(ids[7]!);
  });
});

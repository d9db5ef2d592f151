import { afterEach, describe, expect, test } from "bun:test";
import { appendFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createLogger } from "../../src/common/log.ts";
import { LogForwarder } from "../../src/slave/log-forwarder.ts";
import { MasterClient } from "../../src/slave/master-client.ts";
import { TempDirs } from "../helpers/temp.ts";
import { waitUntil } from "../helpers/wait.ts";
import { FakeMaster, startFakeMaster } from "./fake-master.ts";
import { TEST_BACKOFF } from "./harness.ts";

const temps = new TempDirs();
const masters: FakeMaster[] = [];
afterEach(async () => {
  for (const m of masters.splice(0)) await m.stop();
  await temps.cleanup();
});

/** A forwarder of `path` to a fresh fake master; `write` appends to the file and echoes, as run-isolated's pump does. */
async function forwarding(options: { intervalMs?: number; chunkBytes?: number; leaseId?: string } = {}) {
  const dir = await temps.make("dt-logfwd-");
  const master = await startFakeMaster("http://127.0.0.1:1");
  masters.push(master);
  master.push({ isolate_hash: "h" });
  const [lease] = master.hand(1);
  const path = join(dir, "stdout");
  await writeFile(path, "");
  const log = createLogger({ level: "silent" });
  const client = new MasterClient(master.url, { log, backoff: TEST_BACKOFF, uploadAttempts: 3 });
  const forwarder = new LogForwarder({ master: client, leaseId: options.leaseId ?? lease!.lease_id, stream: "stdout", path, log, fields: {}, ...options });
  return {
    master,
    id: lease!.lease_id,
    forwarder,
    async write(text: string) {
      await appendFile(path, text);
      forwarder.echo.write(Buffer.from(text));
    },
  };
}

describe("LogForwarder", () => {
  test("sends the first output at once, then at most once per interval, and all of it on close", async () => {
    const f = await forwarding({ intervalMs: 60_000 });
    await f.write("one\n");
    await waitUntil(() => f.master.log(f.id, "stdout") === "one\n", "the first output, sent at once");
    await f.write("two\n");
    await f.write("three\n");
    // Within the (long) interval nothing more goes until close.
    expect(f.master.appends).toHaveLength(1);
    await f.forwarder.close();
    expect(f.master.log(f.id, "stdout")).toBe("one\ntwo\nthree\n");
    expect(f.master.appends.map((a) => [a.offset, a.bytes])).toEqual([[0, 4], [4, 10]]);
  });

  test("a full chunk goes without waiting for the interval", async () => {
    const f = await forwarding({ intervalMs: 60_000, chunkBytes: 8 });
    await f.write("a");
    await waitUntil(() => f.master.appends.length === 1, "the first append");
    await f.write("0123456789abcdef");
    await waitUntil(() => f.master.log(f.id, "stdout") === "a0123456789abcdef", "two full chunks");
    expect(f.master.appends.map((a) => [a.offset, a.bytes])).toEqual([[0, 1], [1, 8], [9, 8]]);
    await f.forwarder.close();
  });

  test("an append whose answer was lost is retried at the same offset and not stored twice", async () => {
    const f = await forwarding();
    f.master.loseLogAcks = 1;
    await f.write("only once\n");
    await f.forwarder.close();
    expect(f.master.log(f.id, "stdout")).toBe("only once\n");
    expect(f.master.appends.map((a) => a.offset)).toEqual([0, 0]);
    expect(f.forwarder.forwardedBytes).toBe(10);
  });

  test("a master that refuses the append (404: it does not know the lease) stops live forwarding; close still resolves", async () => {
    const f = await forwarding({ leaseId: "no-such-lease" });
    await f.write("lost\n");
    await f.forwarder.close();
    expect(f.forwarder.forwardedBytes).toBe(0);
    expect(f.master.logs.size).toBe(0);
  });
});

/**
 * A lease larger than beanstalkd's job size (`-z`, 65,535 bytes unless
 * raised, as docs/deployment.md starts it) on a real beanstalkd of this
 * test's own: an auto shard's GTEST_FILTER may take 100 KB. The attempt ends
 * INFRA_FAILED saying what to raise, and the tasks after it are still fed.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { createLogger } from "../../src/common/log.ts";
import { BeanstalkClient, parseBeanstalkUrl } from "../../src/master/queue/beanstalk-client.ts";
import { openExternalQueue } from "../../src/master/queue/open-queue.ts";
import { anyTube } from "../../src/master/queue/tubes.ts";
import { HASH, testMaster } from "./helpers.ts";

const BEANSTALKD = "/usr/bin/beanstalkd";
const MISSING = existsSync(BEANSTALKD) ? undefined : `${BEANSTALKD} is not installed (scripts/services/beanstalkd.sh installs it)`;
if (MISSING) console.warn(`SKIP test/master/feeder-too-big.test.ts: ${MISSING}`);
const log = createLogger({ level: "silent" });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A beanstalkd on a free port with a job size of `maxJobBytes`, answering `stats`. */
async function smallBeanstalkd(maxJobBytes: number): Promise<string> {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  const child = Bun.spawn([BEANSTALKD, "-l", "127.0.0.1", "-p", String(port), "-z", String(maxJobBytes)], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  cleanups.push(async () => {
    child.kill();
    await child.exited;
  });
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      const client = await BeanstalkClient.connect(parseBeanstalkUrl(`127.0.0.1:${port}`));
      await client.close();
      return `127.0.0.1:${port}`;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await Bun.sleep(50);
    }
  }
}

describe.skipIf(MISSING !== undefined)("a lease beanstalkd refuses as too big", () => {
  test("ends INFRA_FAILED naming the -z limit; the feeder goes on with the other tasks", async () => {
    const address = await smallBeanstalkd(20_000);
    const h = await testMaster(undefined, () => openExternalQueue(`beanstalk://${address}`, { tubePrefix: "big", feedAhead: 4, leaseTtlMs: 30_000, log }));
    cleanups.push(() => h.cleanup());
    const bs = await BeanstalkClient.connect(parseBeanstalkUrl(address));
    cleanups.push(() => bs.close());
    await h.master.submitJob({ job_id: "j", tasks: [{ isolate_hash: HASH, description: "big", env: { GTEST_FILTER: "A.x:".repeat(8_000) } }, { isolate_hash: HASH, description: "small" }] });
    await h.master.dispatcher.feeder!.idle();
    expect(Number((await bs.statsTube(anyTube("big")))?.["current-jobs-ready"] ?? 0)).toBe(1);
    const attempts = await h.master.deps.repo.getAttempts("j");
    expect(attempts.map((a) => [a.taskId.endsWith(".0") ? "big" : "small", a.state])).toEqual([["big", "INFRA_FAILED"], ["small", "QUEUED"]]);
    expect(attempts[0]!.message).toMatch(/JOB_TOO_BIG.*-z/);
    // Fed once, not again at every pass.
    h.master.dispatcher.feeder!.kick();
    await h.master.dispatcher.feeder!.idle();
    expect((await h.master.deps.repo.getAttempts("j")).length).toBe(2);
  });
});

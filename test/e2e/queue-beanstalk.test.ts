import { describe, test } from "bun:test";
import { queueConformance } from "./queue.conformance.ts";

const SHARED = process.env.DT_TEST_BEANSTALKD;
let tubes = 0;
const runId = crypto.randomUUID().slice(0, 8);

if (SHARED) {
  queueConformance(`beanstalkd (DT_TEST_BEANSTALKD=${SHARED})`, {
    // Tubes of its own per test: runs and tests can share the server.
    masterArgs: () => ["--queue", `beanstalk://${SHARED}`, "--queue-tube-prefix", `e2e${runId}x${++tubes}`],
  });
} else {
  console.warn("SKIP test/e2e/queue-beanstalk.test.ts: DT_TEST_BEANSTALKD is not set; e.g. DT_TEST_BEANSTALKD=127.0.0.1:11311 after scripts/services/beanstalkd.sh");
  describe.skip("queue conformance: beanstalkd (DT_TEST_BEANSTALKD is not set)", () => {
    test("needs a beanstalkd server", () => {});
  });
}

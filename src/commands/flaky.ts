import { defineCommand } from "citty";
import { DtError } from "../common/errors.ts";
import { parseSince } from "../common/units.ts";
import { ioFrom } from "../client/io.ts";
import { openSession } from "../client/session.ts";
import { flakyTable } from "../client/tables.ts";
import { clientArgs } from "./watch.ts";

/** The master's own bounds (http/flaky-api.ts), checked here too so that a typo is a usage error before any request. */
const MAX_LIMIT = 1_000;
const MAX_MIN_RUNS = 1_000_000;

function positive(value: string, flag: string, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > max) throw new DtError("invalid_input", `${flag}: ${JSON.stringify(value)} is not an integer from 1 to ${max}`);
  return n;
}

export default defineCommand({
  meta: { name: "flaky", description: "List the flakiest test cases lately (flaky jobs ÷ jobs that ran them), each with its latest failure and log" },
  args: {
    since: { type: "string", default: "7d", description: "Jobs created since then: a duration back from now (7d, 12h), an ISO date (2024-01-02) or epoch ms" },
    "min-runs": { type: "string", default: "1", description: "Only cases that ran in at least this many jobs" },
    binary: { type: "string", description: "Only this test binary's cases (a task's description)" },
    limit: { type: "string", default: "50", description: `At most this many cases (up to ${MAX_LIMIT})` },
    json: { type: "boolean", default: false, description: "Print the master's FlakyCases answer as JSON" },
    ...clientArgs,
  },
  async run({ args, data }) {
    // Read here to refuse a typo early; sent as typed, so that a duration counts back from the master's clock.
    parseSince(args.since, "--since", Date.now());
    const minRuns = positive(args["min-runs"], "--min-runs", MAX_MIN_RUNS);
    const limit = positive(args.limit, "--limit", MAX_LIMIT);
    if (args.binary === "") throw new DtError("invalid_input", "--binary: is empty; name a test binary (a task's description), or leave the flag out for all");
    const io = ioFrom(data);
    const session = openSession(args, io);
    const answer = await session.api.flakyCases({ since: args.since, minRuns, limit, binary: args.binary });
    io.stdout.write(args.json ? `${JSON.stringify(answer, null, 2)}\n` : flakyTable(answer, (l) => session.api.resolveLink(l)));
  },
});

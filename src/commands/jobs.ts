import { defineCommand } from "citty";
import { DtError } from "../common/errors.ts";
import { ioFrom } from "../client/io.ts";
import { openSession } from "../client/session.ts";
import { jobsTable } from "../client/tables.ts";
import { clientArgs } from "./watch.ts";

/** A screenful. */
const DEFAULT_LIMIT = 20;

export default defineCommand({
  meta: { name: "jobs", description: "List recent jobs, newest first" },
  args: {
    user: { type: "string", description: "Only this user's jobs" },
    name: { type: "string", description: "Only jobs of this name (submit -n)" },
    limit: { type: "string", default: String(DEFAULT_LIMIT), description: "At most this many jobs" },
    json: { type: "boolean", default: false, description: "Print the JobSummary list as JSON" },
    ...clientArgs,
  },
  async run({ args, data }) {
    const limit = Number(args.limit);
    if (!Number.isSafeInteger(limit) || limit < 1) throw new DtError("invalid_input", `--limit: ${JSON.stringify(args.limit)} is not a positive integer`);
    const io = ioFrom(data);
    const session = openSession(args, io);
    const jobs = await session.api.listJobs({ user: args.user, name: args.name, limit });
    io.stdout.write(args.json ? `${JSON.stringify(jobs, null, 2)}\n` : jobsTable(jobs));
  },
});

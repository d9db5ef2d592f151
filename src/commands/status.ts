import { defineCommand } from "citty";
import { ioFrom } from "../client/io.ts";
import { resolveJobId } from "../client/job-id.ts";
import { openSession } from "../client/session.ts";
import { statusText } from "../client/tables.ts";
import { clientArgs } from "./watch.ts";

export default defineCommand({
  meta: { name: "status", description: "Print a job's counts once (see dt watch to follow it)" },
  args: {
    job: { type: "positional", required: false, description: "Job id (default: the last one submitted from here)" },
    json: { type: "boolean", default: false, description: "Print the master's JobSummary as JSON" },
    ...clientArgs,
  },
  async run({ args, data }) {
    const io = ioFrom(data);
    const session = openSession(args, io);
    const jobId = resolveJobId(args.job, session.jobPath, session.log);
    const summary = await session.api.jobSummary(jobId);
    io.stdout.write(args.json ? `${JSON.stringify(summary, null, 2)}\n` : statusText(summary, (l) => session.api.resolveLink(l)));
  },
});

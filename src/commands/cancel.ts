import { defineCommand } from "citty";
import { ioFrom } from "../client/io.ts";
import { resolveJobId } from "../client/job-id.ts";
import { openSession } from "../client/session.ts";
import { statusText } from "../client/tables.ts";
import { clientArgs } from "./watch.ts";

export default defineCommand({
  meta: { name: "cancel", description: "Cancel a job: queued tasks never run, running ones are killed" },
  args: {
    job: { type: "positional", required: false, description: "Job id (default: the last one submitted from here)" },
    ...clientArgs,
  },
  async run({ args, data }) {
    const io = ioFrom(data);
    const session = openSession(args, io);
    const jobId = resolveJobId(args.job, session.jobPath, session.log);
    const summary = await session.api.cancelJob(jobId);
    io.stdout.write(statusText(summary, (l) => session.api.resolveLink(l)));
  },
});

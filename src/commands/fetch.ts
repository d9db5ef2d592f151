import { defineCommand } from "citty";
import { resolve } from "node:path";
import { DtError } from "../common/errors.ts";
import { fetchResults } from "../client/fetch.ts";
import { ioFrom } from "../client/io.ts";
import { resolveJobId } from "../client/job-id.ts";
import { openSession } from "../client/session.ts";
import { DEFAULT_RESULTS_DIR } from "./submit.ts";
import { clientArgs } from "./watch.ts";

export default defineCommand({
  meta: { name: "fetch", description: "Download the logs (-l) and artifact archives (-a, extracted) of a job's finished attempts" },
  args: {
    job: { type: "positional", required: false, description: "Job id (default: the last one submitted from here)" },
    "output-dir": { type: "string", alias: "d", default: DEFAULT_RESULTS_DIR, description: "Where to put the files" },
    logs: { type: "boolean", alias: "l", default: false, description: "Fetch stdout and stderr: <task>.<attempt>.<description>.stdout/.stderr" },
    artifacts: { type: "boolean", alias: "a", default: false, description: "Fetch artifact archives (.zip) and extract each into a directory of the same name" },
    "failed-only": { type: "boolean", alias: "f", default: false, description: "Only attempts that did not succeed" },
    ...clientArgs,
  },
  async run({ args, data }) {
    if (!args.logs && !args.artifacts) throw new DtError("invalid_input", "nothing to fetch: pass -l (logs), -a (artifacts), or both");
    const io = ioFrom(data);
    const session = openSession(args, io);
    const jobId = resolveJobId(args.job, session.jobPath, session.log);
    const tasks = await session.api.jobTasks(jobId);
    const dir = resolve(args["output-dir"]);
    const fetched = await fetchResults({
      api: session.api,
      tasks,
      dir,
      logs: args.logs,
      artifacts: args.artifacts,
      failedOnly: args["failed-only"],
      concurrency: io.downloadConcurrency,
      log: session.log,
    });
    session.log.info(`Fetched ${fetched.downloads} files of ${fetched.attempts} attempts into ${dir}${fetched.extracted ? ` (${fetched.extracted} files extracted from archives)` : ""}`);
  },
});

import { defineCommand } from "citty";
import { resolve } from "node:path";
import { DtError } from "../common/errors.ts";
import { fetchResults } from "../client/fetch.ts";
import { ioFrom } from "../client/io.ts";
import { resolveJobId } from "../client/job-id.ts";
import { type ClientSession, openSession } from "../client/session.ts";
import { authenticatedFetch } from "../common/auth/credentials.ts";
import { CasClient } from "../isolate/cas/client.ts";
import { DEFAULT_RESULTS_DIR } from "./submit.ts";
import { clientArgs } from "./watch.ts";

export default defineCommand({
  meta: { name: "fetch", description: "Download the logs (-l), artifact archives (-a, extracted) and outputs trees (-o) of a job's finished attempts" },
  args: {
    job: { type: "positional", required: false, description: "Job id (default: the last one submitted from here)" },
    "output-dir": { type: "string", alias: "d", default: DEFAULT_RESULTS_DIR, description: "Where to put the files" },
    logs: { type: "boolean", alias: "l", default: false, description: "Fetch stdout and stderr: <task>.<attempt>.<description>.stdout/.stderr" },
    artifacts: { type: "boolean", alias: "a", default: false, description: "Fetch artifact archives (.zip) and extract each into a directory of the same name" },
    outputs: { type: "boolean", alias: "o", default: false, description: "Fetch what each attempt left in ISOLATED_OUTDIR from the CAS, into <task>/<attempt>/ with file modes and symlinks" },
    "failed-only": { type: "boolean", alias: "f", default: false, description: "Only attempts that did not succeed" },
    ...clientArgs,
  },
  async run({ args, data }) {
    if (!args.logs && !args.artifacts && !args.outputs) throw new DtError("invalid_input", "nothing to fetch: pass -l (logs), -a (artifacts), -o (outputs), or several");
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
      outputs: args.outputs ? { cas: casClients(session) } : undefined,
      concurrency: io.downloadConcurrency,
      log: session.log,
    });
    const outputs = args.outputs ? `, ${fetched.outputs.trees} outputs trees (${fetched.outputs.files} files)` : "";
    session.log.info(`Fetched ${fetched.downloads} files${outputs} of ${fetched.attempts} attempts into ${dir}${fetched.extracted ? ` (${fetched.extracted} files extracted from archives)` : ""}`);
  },
});

/**
 * A CAS client per server an attempt names. The account answers only the
 * master's and the configured isolate server's challenges: the server comes
 * from a slave's report, and an unknown one gets no chance at a response
 * to crack.
 */
function casClients(session: ClientSession): (server: string) => CasClient {
  const trusted = [session.api.base, session.config.get("isolateServer")].filter((s): s is string => Boolean(s));
  const casFetch = authenticatedFetch(session.config, trusted);
  return (server) => new CasClient(server, { fetch: casFetch });
}

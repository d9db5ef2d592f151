import { defineCommand } from "citty";
import { ioFrom } from "../client/io.ts";
import { openSession } from "../client/session.ts";
import { slavesTable } from "../client/tables.ts";
import { DtError } from "../common/errors.ts";
import { parseDuration } from "../common/units.ts";
import type { SlaveCommand, SlaveView } from "../master/protocol.ts";
import { clientArgs } from "./watch.ts";

/** Long enough for a held slave's next heartbeat (5 s) or an idle one's next poll, twice. */
const DEFAULT_WAIT = "30s";
/** How often `--wait` asks the master again. */
const POLL_MS = 500;

const outputArgs = {
  json: { type: "boolean", default: false, description: "Print SlaveView JSON (with recent infrastructure failures) instead of a table" },
  ...clientArgs,
} as const;

const list = defineCommand({
  meta: { name: "list", description: "The slaves the master knows: state (idle, busy, draining, quarantined, lost), slots, running tasks, and why one takes no work" },
  args: outputArgs,
  async run({ args, data }) {
    const io = ioFrom(data);
    const session = openSession(args, io);
    const slaves = await session.api.listSlaves();
    io.stdout.write(args.json ? `${JSON.stringify(slaves, null, 2)}\n` : slavesTable(slaves, Date.now()));
  },
});

/** drain, quarantine and resume: the same flags, the same wait. */
function instruction(action: SlaveCommand["action"], description: string) {
  return defineCommand({
    meta: { name: action, description },
    args: {
      name: { type: "positional", required: true, description: "The slave's name, as `dt slaves` lists it" },
      reason: { type: "string", description: "Why, for the slaves view and the slave's log" },
      wait: { type: "string", default: DEFAULT_WAIT, description: "How long to wait for the slave to confirm; 0: do not wait" },
      ...(action === "drain" ? { idle: { type: "boolean", default: false, description: "Also wait until its running tasks have finished (within --wait)" } } : {}),
      ...outputArgs,
    },
    async run({ args, data }) {
      const io = ioFrom(data);
      const session = openSession(args, io);
      const name = args.name as string;
      const waitMs = parseDuration(args.wait as string, "--wait");
      const reason = (args.reason as string | undefined) ?? `${action} by ${process.env.USER ?? "an operator"} with dt slaves`;
      let view = await session.api.commandSlave(name, { action, reason });
      const done = (v: SlaveView) => v.pending_command === null && (!(args as { idle?: boolean }).idle || v.running.length === 0);
      const deadline = Date.now() + waitMs;
      while (waitMs > 0 && !done(view)) {
        if (view.state === "lost") throw new DtError("unreachable", `slave ${name} is lost (last seen ${Math.round((Date.now() - view.last_seen_at) / 1000)} s ago): the ${action} waits on the master for its next call`);
        if (Date.now() >= deadline) {
          const what = view.pending_command ? "has not confirmed it yet" : `still runs ${view.running.length} tasks`;
          throw new DtError("unreachable", `slave ${name} ${what} after ${args.wait}; the ${action} stays requested (dt slaves shows it)`);
        }
        await io.sleep(POLL_MS);
        view = await session.api.slave(name);
      }
      io.stdout.write(args.json ? `${JSON.stringify(view, null, 2)}\n` : slavesTable([view], Date.now()));
    },
  });
}

export default defineCommand({
  meta: { name: "slaves", description: "List the master's slaves, or drain, quarantine or resume one (dt slaves drain NAME)" },
  subCommands: {
    list,
    drain: instruction("drain", "Let the slave finish its running tasks and start no more; it stays up until resumed"),
    quarantine: instruction("quarantine", "Take the slave out of service: it starts no more tasks (running ones finish) until resumed"),
    resume: instruction("resume", "Lift an operator's drain or quarantine, or the slave's own quarantine"),
  },
  // The parent's flags, so that `dt slaves --master URL` is not taken for a subcommand named URL.
  args: outputArgs,
  // `dt slaves` alone lists them.
  default: "list",
});

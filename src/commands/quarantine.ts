import { defineCommand } from "citty";
import { ioFrom } from "../client/io.ts";
import { testOf, untilOf } from "../client/quarantine-args.ts";
import { openSession, submittingUser } from "../client/session.ts";
import { quarantineTable } from "../client/tables.ts";
import { DtError } from "../common/errors.ts";
import { clientArgs } from "./watch.ts";

const outputArgs = {
  json: { type: "boolean", default: false, description: "Print the entries as JSON (QuarantineView) instead of a table" },
  ...clientArgs,
} as const;

const list = defineCommand({
  meta: { name: "list", description: "The quarantined tests: id, test, binary, until, who and why" },
  args: {
    all: { type: "boolean", default: false, description: "Also the removed and expired entries (the newest 1,000)" },
    ...outputArgs,
  },
  async run({ args, data }) {
    const io = ioFrom(data);
    const session = openSession(args, io);
    const entries = await session.api.listQuarantine(args.all);
    io.stdout.write(args.json ? `${JSON.stringify(entries, null, 2)}\n` : quarantineTable(entries));
  },
});

const add = defineCommand({
  meta: { name: "add", description: "Quarantine a test: it still runs and is shown, but its failure fails no job (exit 0)" },
  args: {
    test: { type: "positional", required: false, description: "SUITE.NAME, split at the last '.' (e.g. MathTest.FailsOnPurpose)" },
    suite: { type: "string", description: "The suite, instead of TEST (with --name)" },
    name: { type: "string", description: "The case's name, instead of TEST (with --suite)" },
    binary: { type: "string", description: "Only in this binary (a task's description without its shard suffix); default: any binary" },
    reason: { type: "string", description: "Why (shown in summaries, JUnit and the job page); default: quarantined by USER" },
    until: { type: "string", description: "Ends by itself then: a duration (7d, 12h) or a date (2026-12-31, 2026-12-31T18:00:00Z); default: until removed" },
    ...outputArgs,
  },
  async run({ args, data }) {
    const io = ioFrom(data);
    const session = openSession(args, io);
    const { suite, name } = testOf({ test: args.test as string | undefined, suite: args.suite, name: args.name });
    const until = args.until === undefined ? null : untilOf(args.until, Date.now());
    const entry = await session.api.addQuarantine({ binary: args.binary ?? null, suite, name, reason: args.reason ?? null, until, user: submittingUser(session) });
    io.stdout.write(args.json ? `${JSON.stringify(entry, null, 2)}\n` : quarantineTable([entry]));
  },
});

const remove = defineCommand({
  meta: { name: "remove", description: "End a quarantine entry now (the master keeps it, removed, for history; past jobs keep their verdicts)" },
  args: {
    id: { type: "positional", required: true, description: "The entry's id, as dt quarantine list shows it" },
    ...outputArgs,
  },
  async run({ args, data }) {
    const io = ioFrom(data);
    const session = openSession(args, io);
    const id = args.id as string;
    if (!/^\d{1,9}$/.test(id)) throw new DtError("invalid_input", `ID ${JSON.stringify(id)}: must be an entry's number, as dt quarantine list shows it`);
    const entry = await session.api.removeQuarantine(Number(id), submittingUser(session));
    io.stdout.write(args.json ? `${JSON.stringify(entry, null, 2)}\n` : quarantineTable([entry]));
  },
});

export default defineCommand({
  meta: { name: "quarantine", description: "Quarantine flaky tests: their failures fail no job (dt quarantine add SUITE.NAME --reason TEXT --until 7d; list; remove ID)" },
  subCommands: { list, add, remove },
  // The parent's flags, so that `dt quarantine --master URL list` is not taken for a subcommand named URL.
  args: outputArgs,
  // `dt quarantine` alone lists them.
  default: "list",
});

import { defineCommand } from "citty";
import { readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { authenticatedFetch } from "../common/auth/credentials.ts";
import { DtError } from "../common/errors.ts";
import { archiveTargets } from "../isolate/archive/archive.ts";
import { CasClient } from "../isolate/cas/client.ts";
import { hashCachePath, logArchiveStats, targetFromIsolate } from "./archive.ts";
import { commandContext, logArgs, normalizeGoFlags, repeatedFlag, splitAtDashDash } from "./context.ts";
import type { ArgvPolicy } from "./argv.ts";

/** What Kudu's build-support/dist_test.py writes per test: `X.gen.json`. */
interface GenJson {
  args: string[];
  dir: string;
  version: number;
}

/** Reads one gen.json and turns its args into an archive target, relative paths resolved against `dir`. */
async function targetFromGenJson(path: string) {
  let gen: GenJson;
  try {
    gen = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new DtError((err as { code?: string }).code === "ENOENT" ? "not_found" : "invalid_input", `${path}: cannot read as a .gen.json file: ${(err as Error).message}`);
  }
  if (!gen || !Array.isArray(gen.args) || !gen.args.every((a) => typeof a === "string") || typeof gen.dir !== "string") {
    throw new DtError("invalid_input", `${path}: expected {"args": ["-i", "X.isolate", "-s", "X.isolated"], "dir": "/path", "version": 1}`);
  }
  if (gen.version !== 1) throw new DtError("invalid_input", `${path}: version ${JSON.stringify(gen.version)} is not supported; only 1`);
  const args = normalizeGoFlags(gen.args);
  const value = (names: string[]) => repeatedFlag(args, names)[0];
  const isolate = value(["-i", "--isolate"]);
  if (!isolate) throw new DtError("invalid_input", `${path}: args name no .isolate file (-i)`);
  const isolated = value(["-s", "--isolated"]);
  return targetFromIsolate(resolve(gen.dir, isolate), isolated ? resolve(gen.dir, isolated) : undefined, args);
}

/** Go-style flags as luci-go's isolate takes them; the .gen.json files after `--`, or as positionals. */
export const argvPolicy: ArgvPolicy = { goFlags: true, variadic: true, afterDashDash: "the .gen.json files" };

export default defineCommand({
  meta: {
    name: "batcharchive",
    description: "Archive many .isolate files described by .gen.json files (as luci's `isolate batcharchive`), sharing one round of presence checks",
  },
  args: {
    files: { type: "positional", required: false, description: ".gen.json files, here or after --" },
    "isolate-server": { type: "string", alias: "I", description: "CAS URL (or ISOLATE_SERVER, or [isolate] server in the config)" },
    "dump-json": { type: "string", description: "Write {name: digest} here" },
    "hash-cache": { type: "string", description: "SQLite file remembering file hashes; 'none' to disable" },
    ...logArgs,
  },
  async run({ args, rawArgs }) {
    const ctx = commandContext(args);
    const server = ctx.config.require("isolateServer", args["isolate-server"], "--isolate-server");
    const { rest, flags } = splitAtDashDash(rawArgs);
    // Files after `--`, as luci takes them; positionals before it are accepted too.
    const genFiles = [...(args._ as string[]).filter((a) => flags.includes(a)), ...rest];
    if (genFiles.length === 0) throw new DtError("invalid_input", "no .gen.json files given; pass them after --");
    const targets = await Promise.all(genFiles.map((f) => targetFromGenJson(resolve(f))));
    const seen = new Map<string, string>();
    for (const [i, t] of targets.entries()) {
      const other = seen.get(t.name);
      if (other) throw new DtError("invalid_input", `${genFiles[i]} and ${other} both produce "${t.name}"; names in the dump must be unique`);
      seen.set(t.name, genFiles[i]!);
    }
    const { results, stats } = await archiveTargets(targets, { cas: new CasClient(server, { fetch: authenticatedFetch(ctx.config, [server]) }), log: ctx.log, hashCachePath: hashCachePath(ctx, args["hash-cache"]) });
    logArchiveStats(ctx, stats);
    const dump: Record<string, string> = {};
    for (const r of results) dump[r.name] = r.digest.hash;
    if (args["dump-json"]) await writeFile(resolve(args["dump-json"]), `${JSON.stringify(dump, null, 2)}\n`);
    for (const r of results) process.stdout.write(`${r.digest.hash}  ${r.name}\n`);
  },
});

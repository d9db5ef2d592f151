import { defineCommand } from "citty";
import { resolve } from "node:path";
import { authenticatedFetch } from "../common/auth/credentials.ts";
import { DtError } from "../common/errors.ts";
import { type ArchiveTarget, archiveTargets, baseName, relativeTreePath, rootFor, targetFromPaths } from "../isolate/archive/archive.ts";
import { CasClient } from "../isolate/cas/client.ts";
import { loadIsolate } from "../isolate/isolate-file/load.ts";
import { checkTreePath } from "../isolate/manifest.ts";
import { type CommandContext, commandContext, defaultCacheDir, keyValues, logArgs, repeatedFlag, splitAtDashDash } from "./context.ts";
import type { ArgvPolicy } from "./argv.ts";

export const archiveArgs = {
  isolate: { type: "string", alias: "i", description: ".isolate file listing the files and the command" },
  isolated: { type: "string", alias: "s", description: "Where to write the .isolated manifest" },
  "isolate-server": { type: "string", alias: "I", description: "CAS URL (or ISOLATE_SERVER, or [isolate] server in the config)" },
  "path-variable": { type: "string", description: "KEY=VALUE substituted for <(KEY) in paths; repeatable" },
  "config-variable": { type: "string", description: "KEY=VALUE for <(KEY) and conditions; repeatable" },
  path: { type: "string", description: "Without -i: a file or directory to archive, relative to --root; repeatable" },
  root: { type: "string", description: "Without -i: the tree's root (default: the current directory)" },
  "relative-cwd": { type: "string", description: "Without -i: the command's directory relative to --root (default .)" },
  "read-only": { type: "string", description: "0 writable tree, 1 read-only files (default), 2 read-only directories too" },
  "hash-cache": { type: "string", description: "SQLite file remembering file hashes (default $XDG_CACHE_HOME/dt/hashes.sqlite); 'none' to disable" },
  ...logArgs,
} as const;

/** Path and config variables from repeated flags; both `K=V` and luci's `K V` forms. */
export function isolateVariables(rawArgs: readonly string[]) {
  return {
    pathVariables: keyValues(pairForms(rawArgs, "--path-variable"), "--path-variable"),
    configVariables: keyValues(pairForms(rawArgs, "--config-variable"), "--config-variable"),
  };
}

function pairForms(rawArgs: readonly string[], name: string): string[] {
  const { flags } = splitAtDashDash(rawArgs);
  const out: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    const arg = flags[i]!;
    if (arg.startsWith(`${name}=`)) out.push(arg.slice(name.length + 1));
    else if (arg === name) {
      const key = flags[i + 1];
      if (key === undefined) throw new DtError("invalid_input", `${name} needs KEY=VALUE`);
      // isolate.py took `--path-variable KEY VALUE`; luci-go `-path-variable KEY=VALUE`.
      if (key.includes("=")) {
        out.push(key);
        i++;
      } else {
        const value = flags[i + 2];
        if (value === undefined) throw new DtError("invalid_input", `${name} ${key} needs a value`);
        out.push(`${key}=${value}`);
        i += 2;
      }
    }
  }
  return out;
}

/** The archive target that an .isolate file describes. */
export async function targetFromIsolate(isolatePath: string, isolatedPath: string | undefined, rawArgs: readonly string[]): Promise<ArchiveTarget> {
  const spec = await loadIsolate(resolve(isolatePath), isolateVariables(rawArgs));
  const root = rootFor(spec.files, spec.commandDir, spec.command);
  return {
    name: isolatedPath ? baseName(isolatedPath) : baseName(isolatePath).replace(/\.isolate$/, ""),
    isolatedPath: isolatedPath ? resolve(isolatedPath) : undefined,
    root,
    paths: spec.files,
    command: spec.command,
    relativeCwd: relativeTreePath(root, spec.commandDir),
    readOnly: spec.readOnly,
    source: spec.isolatePath,
  };
}

export function hashCachePath(ctx: CommandContext, flag: string | undefined): string | undefined {
  const chosen = flag ?? ctx.env.DT_HASH_CACHE;
  if (chosen === "none") return undefined;
  return resolve(chosen || defaultCacheDir(ctx.env, "hashes.sqlite"));
}

export function parseReadOnly(text: string | undefined): 0 | 1 | 2 | undefined {
  if (text === undefined) return undefined;
  if (text === "0" || text === "1" || text === "2") return Number(text) as 0 | 1 | 2;
  throw new DtError("invalid_input", `--read-only must be 0, 1 or 2, got ${JSON.stringify(text)}`);
}

/** Go-style flags as luci-go's isolate takes them; the command to archive after `--`. */
export const argvPolicy: ArgvPolicy = {
  goFlags: true,
  afterDashDash: "without -i, the command the task runs (with --path)",
  pairFlags: ["path-variable", "config-variable"],
};

export default defineCommand({
  meta: {
    name: "archive",
    description: "Hash a tree, upload what the CAS lacks, and print the manifest's digest. Either -i foo.isolate, or --path ... -- command",
  },
  args: archiveArgs,
  async run({ args, rawArgs }) {
    const ctx = commandContext(args);
    const server = ctx.config.require("isolateServer", args["isolate-server"], "--isolate-server");
    const { rest: command } = splitAtDashDash(rawArgs);
    const paths = repeatedFlag(rawArgs, ["--path"]);
    let target: ArchiveTarget;
    if (args.isolate) {
      if (paths.length > 0 || command.length > 0) {
        throw new DtError("invalid_input", "give either -i FILE.isolate or --path ... -- command, not both");
      }
      target = await targetFromIsolate(args.isolate, args.isolated, rawArgs);
      const readOnly = parseReadOnly(args["read-only"]);
      if (readOnly !== undefined) target.readOnly = readOnly;
    } else {
      if (paths.length === 0) {
        throw new DtError("invalid_input", "nothing to archive: give -i FILE.isolate, or one or more --path with the command after --");
      }
      const relativeCwd = args["relative-cwd"] ?? ".";
      if (relativeCwd !== ".") checkTreePath(relativeCwd, "--relative-cwd");
      target = targetFromPaths({
        root: args.root ?? process.cwd(),
        paths,
        command,
        relativeCwd,
        isolatedPath: args.isolated ? resolve(args.isolated) : undefined,
        readOnly: parseReadOnly(args["read-only"]),
      });
    }
    const { results, stats } = await archiveTargets([target], { cas: new CasClient(server, { fetch: authenticatedFetch(ctx.config, [server]) }), log: ctx.log, hashCachePath: hashCachePath(ctx, args["hash-cache"]) });
    logArchiveStats(ctx, stats);
    const [result] = results;
    process.stdout.write(`${result!.digest.hash}  ${result!.name}\n`);
  },
});

export function logArchiveStats(ctx: CommandContext, stats: Awaited<ReturnType<typeof archiveTargets>>["stats"]): void {
  const p = stats.phasesMs;
  ctx.log.info(
    `${stats.files} files (${stats.bytes} bytes): ${stats.hashCacheHits} hashes cached, ${stats.hashedFiles} hashed; ` +
      `${stats.upload.uploadedItems} of ${stats.upload.checked} blobs uploaded (${stats.upload.uploadedBytes} bytes); ` +
      `walk ${p.walk.toFixed(0)} ms, hash ${p.hash.toFixed(0)} ms, upload ${p.upload.toFixed(0)} ms`,
    { stats },
  );
}


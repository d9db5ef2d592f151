import { userInfo } from "node:os";
import { configuredCredentials } from "../common/auth/credentials.ts";
import { Config } from "../common/config.ts";
import { DtError } from "../common/errors.ts";
import { type Logger, createLogger } from "../common/log.ts";
import { DEFAULT_URL_TIMEOUT_SEC, MasterClient } from "./api.ts";
import type { ClientIo } from "./io.ts";

/** What every client command works with, made once per run from its flags and io. */
export interface ClientSession {
  io: ClientIo;
  config: Config;
  log: Logger;
  api: MasterClient;
  /** The file holding the last submitted job id. */
  jobPath: string;
}

export interface SessionArgs {
  master?: string;
  "log-level"?: string;
  "log-format"?: string;
}

/**
 * Reads the config (flags, env, INI file) and connects nothing yet: the
 * master client is made here, its first request is the command's.
 */
export function openSession(args: SessionArgs, io: ClientIo): ClientSession {
  const log = createLogger({ level: args["log-level"], format: args["log-format"], stream: io.stderr });
  const config = Config.load(io.env);
  const master = config.require("master", args.master, "--master");
  const api = new MasterClient(master, {
    fetch: io.fetch,
    retry: io.retry,
    sleep: (ms) => io.sleep(ms),
    timeoutMs: urlTimeoutSec(config) * 1000,
    credentials: configuredCredentials(config),
  });
  return { io, config, log, api, jobPath: config.get("jobPath")! };
}

/** The user a job is submitted as: the config's `user`, else $USER, else the account's name. */
export function submittingUser(session: ClientSession): string {
  const fromConfig = session.config.get("user");
  if (fromConfig) return fromConfig;
  if (session.io.env.USER) return session.io.env.USER;
  return userInfo().username;
}

function urlTimeoutSec(config: Config): number {
  const { value, source } = config.resolve("urlTimeout");
  if (value === undefined) return DEFAULT_URL_TIMEOUT_SEC;
  const sec = Number(value);
  if (!Number.isFinite(sec) || sec <= 0) throw new DtError("invalid_input", `url_timeout (from the ${source}) must be a positive number of seconds, got ${JSON.stringify(value)}`);
  return sec;
}

import { type ConsolaInstance, type LogObject, LogLevels, createConsola } from "consola";
import { DtError } from "./errors.ts";

/** The logger every module receives; consola's instance type. */
export type Logger = ConsolaInstance;

export type LogFormat = "text" | "json";

const LEVELS = ["silent", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevelName = (typeof LEVELS)[number];

export interface LoggerOptions {
  level?: string;
  format?: string;
  /** Where log lines go; stderr, so that stdout stays for a command's answer. */
  stream?: NodeJS.WritableStream;
}

/**
 * Creates the logger of one command. Text for people; `json` for services:
 * one object per line with time, level, message and any fields passed as a
 * trailing object (e.g. `log.info("leased", { job_id, task_id })`: the
 * names of the API's fields, so one query finds a job's lines on the
 * master and on its slaves).
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = parseLevel(options.level ?? "info");
  const format = parseFormat(options.format ?? "text");
  const stream = options.stream ?? process.stderr;
  const logger = createConsola({
    level: LogLevels[level === "silent" ? "silent" : level],
    // consola types these as tty streams, but only ever calls write().
    stdout: stream as NodeJS.WriteStream,
    stderr: stream as NodeJS.WriteStream,
    formatOptions: { date: false, colors: false },
  });
  logger.setReporters([
    {
      log: (entry) => stream.write(format === "json" ? `${JSON.stringify(jsonLine(entry))}\n` : textLine(entry)),
    },
  ]);
  return logger;
}

/**
 * `dt: message` for information, `dt <level>: message` otherwise. Trailing
 * objects are fields for the json format and are left out here.
 */
function textLine(entry: LogObject): string {
  const words = entry.args
    .filter((arg) => arg instanceof Error || arg === null || typeof arg !== "object")
    .map((arg) => (arg instanceof Error ? arg.message : String(arg)));
  const label = entry.type === "info" || entry.type === "log" || entry.type === "success" ? "dt" : `dt ${entry.type}`;
  return `${label}: ${words.join(" ")}\n`;
}

function jsonLine(entry: LogObject): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  const words: string[] = [];
  for (const arg of entry.args) {
    if (arg instanceof Error) fields.error = arg.message;
    else if (arg !== null && typeof arg === "object") Object.assign(fields, arg);
    else words.push(String(arg));
  }
  return { time: entry.date.toISOString(), level: entry.type, msg: words.join(" "), ...fields };
}

function parseLevel(text: string): LogLevelName {
  if ((LEVELS as readonly string[]).includes(text)) return text as LogLevelName;
  throw new DtError("invalid_input", `--log-level: unknown level "${text}"; use one of ${LEVELS.join(", ")}`);
}

function parseFormat(text: string): LogFormat {
  if (text === "text" || text === "json") return text;
  throw new DtError("invalid_input", `--log-format: unknown format "${text}"; use text or json`);
}

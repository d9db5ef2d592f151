import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { DtError } from "./errors.ts";
import { type IniData, parseIni } from "./ini.ts";

/**
 * Every setting dt reads from outside its flags, with where dist_test kept
 * it. Precedence, for every subcommand alike: flag, then environment
 * variable, then the INI file (`$DIST_TEST_CNF`, default `~/.dist_test.cnf`),
 * then the default here.
 */
export const SETTINGS = {
  /** URL of the dt (or dist_test) master. */
  master: { section: "dist_test", key: "master", env: "DIST_TEST_MASTER" },
  /** Account name for HTTP Digest against the master and the CAS. */
  user: { section: "dist_test", key: "user", env: "DIST_TEST_USER" },
  password: { section: "dist_test", key: "password", env: "DIST_TEST_PASSWORD" },
  /** File holding the id of the last submitted job (Kudu's CI sets it). */
  jobPath: { section: "dist_test", key: "job_path", env: "DIST_TEST_JOB_PATH", default: "~/.dist-test-last-job" },
  /** Seconds before an HTTP request to the master is abandoned. */
  urlTimeout: { section: "dist_test", key: "url_timeout", env: "DIST_TEST_URL_TIMEOUT" },
  /** URL of the CAS (isolate server); the master serves one at its own URL. */
  isolateServer: { section: "isolate", key: "server", env: "ISOLATE_SERVER" },
  /** Server: CIDRs whose clients may write without a password (see auth/policy.ts). */
  allowedIpRanges: { section: "dist_test", key: "allowed_ip_ranges", env: "DT_ALLOWED_IP_RANGES" },
  /** Server: `true` closes reads to the same clients as writes. */
  readRequiresAuth: { section: "dist_test", key: "read_requires_auth", env: "DT_READ_REQUIRES_AUTH" },
  /** Server: CIDRs of reverse proxies whose X-Forwarded-For names the client. */
  trustedProxies: { section: "dist_test", key: "trusted_proxies", env: "DT_TRUSTED_PROXIES" },
  /** Local blob cache of run-isolated and slaves. 50 GiB by default in isolate; here the path. */
  cacheDir: { section: "isolate", key: "cache_dir", env: "DT_CACHE_DIR", default: "~/.cache/dt/isolate" },
} as const satisfies Record<string, SettingSpec>;

interface SettingSpec {
  section: string;
  key: string;
  env: string;
  default?: string;
}

export type SettingName = keyof typeof SETTINGS;

/** Where a resolved value came from; `dt` prints it in error messages. */
export type SettingSource = "flag" | "env" | "file" | "default";

export interface ResolvedSetting {
  value: string | undefined;
  source: SettingSource | undefined;
}

/**
 * The configuration of one dt process. Created once per command from its
 * environment; holds no global state.
 *
 * @example
 *   const config = Config.load(process.env);
 *   const server = config.get("isolateServer", args["isolate-server"]);
 */
export class Config {
  private constructor(
    private readonly env: Record<string, string | undefined>,
    private readonly ini: IniData,
    /** The INI file that was read, if any. */
    readonly filePath: string | undefined,
    private readonly home: string,
  ) {}

  /**
   * Reads the INI file named by `$DIST_TEST_CNF` (an error if it is set and
   * missing) or `~/.dist_test.cnf` (skipped if absent).
   */
  static load(env: Record<string, string | undefined>, home = env.HOME || homedir()): Config {
    const explicit = env.DIST_TEST_CNF;
    const path = explicit || join(home, ".dist_test.cnf");
    if (!existsSync(path)) {
      if (explicit) {
        throw new DtError("not_found", `DIST_TEST_CNF names ${explicit}, which does not exist; create it or unset DIST_TEST_CNF`);
      }
      return new Config(env, new Map(), undefined, home);
    }
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      throw new DtError("invalid_input", `cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
    }
    return new Config(env, parseIni(text, path), path, home);
  }

  /** Resolves a setting: `flag` wins, then env, then the INI file, then the default. */
  resolve(name: SettingName, flag?: string): ResolvedSetting {
    const spec: SettingSpec = SETTINGS[name];
    if (flag !== undefined && flag !== "") return { value: this.expand(flag), source: "flag" };
    const fromEnv = this.env[spec.env];
    if (fromEnv !== undefined && fromEnv !== "") return { value: this.expand(fromEnv), source: "env" };
    const fromFile = this.fileValue(spec.section, spec.key);
    if (fromFile !== undefined) return { value: this.expand(fromFile), source: "file" };
    if (spec.default !== undefined) return { value: this.expand(spec.default), source: "default" };
    return { value: undefined, source: undefined };
  }

  get(name: SettingName, flag?: string): string | undefined {
    return this.resolve(name, flag).value;
  }

  /** Like `get`, but a missing value is an error telling every way to set it. */
  require(name: SettingName, flag: string | undefined, flagName: string): string {
    const value = this.get(name, flag);
    if (value === undefined) {
      const spec: SettingSpec = SETTINGS[name];
      throw new DtError(
        "invalid_input",
        `no ${name} configured: pass ${flagName}, set ${spec.env}, or put "${spec.key} = ..." under [${spec.section}] in ${this.filePath ?? join(this.home, ".dist_test.cnf")}`,
      );
    }
    return value;
  }

  /** A raw value from the INI file, for server-side keys read by later subsystems. */
  fileValue(section: string, key: string): string | undefined {
    return this.ini.get(section)?.get(key.toLowerCase());
  }

  /** `~` expands to the home directory, as dist_test's os.path.expanduser did. */
  private expand(value: string): string {
    return value === "~" || value.startsWith("~/") ? join(this.home, value.slice(1)) : value;
  }
}

import { homedir } from "node:os";
import { join } from "node:path";
import { type AccountSecrets, type AuthPolicy, describeAuthPolicy, loadAuthPolicy } from "../common/auth/policy.ts";
import type { IpRanges } from "../common/auth/ip-ranges.ts";
import { Config } from "../common/config.ts";
import type { Logger } from "../common/log.ts";

/**
 * An access policy whose contents can be swapped while a server holds it:
 * `dt master` and `dt isolate-server` hand one to the server they start (as
 * its `auth`) and `set` the policy a SIGHUP reloaded. The guard reads a
 * request's fields synchronously, so no request is judged by half of one
 * policy and half of the next.
 *
 * @example
 *   const auth = new ReloadablePolicy(loadAuthPolicy(config));
 *   startMasterServer({ ...options, auth });
 *   auth.set(loadAuthPolicy(Config.load(process.env)));
 */
export class ReloadablePolicy implements AuthPolicy {
  constructor(private current: AuthPolicy) {}

  get allowedRanges(): IpRanges {
    return this.current.allowedRanges;
  }

  get accounts(): ReadonlyMap<string, AccountSecrets> {
    return this.current.accounts;
  }

  get readRequiresAuth(): boolean {
    return this.current.readRequiresAuth;
  }

  get trustedProxies(): IpRanges {
    return this.current.trustedProxies;
  }

  set(policy: AuthPolicy): void {
    this.current = policy;
  }
}

export interface PolicyReloadOptions {
  /** The server's environment: names the config file (`DIST_TEST_CNF`) and may set DT_ALLOWED_IP_RANGES and the like. */
  env: Record<string, string | undefined>;
  log: Logger;
  /** Takes the new policy once it has loaded, e.g. `ReloadablePolicy.set` or `AuthGuard.setPolicy`. */
  apply: (policy: AuthPolicy) => void;
  /** The policy in force, named in the error when a reload fails. */
  current: () => AuthPolicy;
}

/**
 * Re-reads the config file and hands the policy in it to `apply`. A file
 * that does not load (missing, not INI, a bad key) is logged as an error
 * naming the file and what is wrong with it, and the policy in force stays:
 * a typo must not lock every slave out, nor open the server. Returns whether
 * the new policy was applied.
 */
export function reloadAuthPolicy(options: PolicyReloadOptions): boolean {
  const path = configPathOf(options.env);
  let policy: AuthPolicy;
  let loadedFrom: string | undefined;
  try {
    const config = Config.load(options.env);
    loadedFrom = config.filePath;
    policy = loadAuthPolicy(config);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // Config's own messages name the file (a missing file, an INI line); loadAuthPolicy's name only the key.
    const where = message.includes(path) ? message : `${path}: ${message}`;
    options.log.error(`reload failed, the access policy in force is kept (${describeAuthPolicy(options.current())}): ${where}; fix the file and reload again (SIGHUP, systemctl reload)`, { config: path });
    return false;
  }
  options.apply(policy);
  options.log.info(`reloaded ${loadedFrom ?? `no config file (${path} does not exist)`}; access: ${describeAuthPolicy(policy)}`, { config: path });
  return true;
}

/**
 * Reloads the access policy on every SIGHUP, systemd's `ExecReload`. The
 * listener is in place from the call on (SIGHUP's default would end the
 * process). Returns the function that removes it.
 */
export function reloadAuthPolicyOnHangup(options: PolicyReloadOptions): () => void {
  const onHangup = () => {
    options.log.info("SIGHUP: reloading the access policy");
    reloadAuthPolicy(options);
  };
  process.on("SIGHUP", onHangup);
  return () => process.off("SIGHUP", onHangup);
}

/** The file Config.load reads: `$DIST_TEST_CNF`, else `~/.dist_test.cnf`. */
function configPathOf(env: Record<string, string | undefined>): string {
  return env.DIST_TEST_CNF || join(env.HOME || homedir(), ".dist_test.cnf");
}

import type { Config } from "../config.ts";
import { DtError } from "../errors.ts";
import { type Credentials, digestFetch } from "./digest-fetch.ts";

/**
 * The account this process answers challenges with: `user` and `password`
 * from the config chain (DIST_TEST_USER / DIST_TEST_PASSWORD, then
 * `[dist_test]` in the config file), as dist_test's client read them. A user
 * alone is no account (it also names jobs, as in dist_test); a password
 * without a user is a mistake and is said so.
 */
export function configuredCredentials(config: Config): Credentials | undefined {
  const user = config.resolve("user");
  const password = config.resolve("password");
  if (password.value === undefined) return undefined;
  if (user.value === undefined) {
    throw new DtError("invalid_input", `a password is configured (from the ${password.source}) but no user; set DIST_TEST_USER or user under [dist_test]`);
  }
  return { user: user.value, password: password.value };
}

/**
 * The fetch a client of dt servers uses: one that answers their HTTP Digest
 * challenges when credentials are configured, plain fetch otherwise. With
 * `servers`, only those servers' challenges are answered.
 *
 * @example
 *   const cas = new CasClient(server, { fetch: authenticatedFetch(ctx.config, [server]) });
 */
export function authenticatedFetch(config: Config, servers?: readonly string[]): typeof fetch {
  const credentials = configuredCredentials(config);
  return credentials ? digestFetch(credentials, fetch, servers?.map(originOf)) : fetch;
}

/** The names under which the account reaches a process; a task's environment leaves them out, so no test can print them. */
export const CREDENTIAL_ENV = ["DIST_TEST_USER", "DIST_TEST_PASSWORD"] as const;

/** `env` without the account, for the tasks a slave or run-isolated starts. */
export function withoutCredentials(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const out = { ...env };
  for (const name of CREDENTIAL_ENV) delete out[name];
  return out;
}

function originOf(server: string): string {
  try {
    return new URL(server).origin;
  } catch {
    return server;
  }
}

import type { Config } from "../config.ts";
import { DtError } from "../errors.ts";
import { type Credentials, digestFetch } from "./digest-fetch.ts";

/**
 * The account this process answers challenges with: `user` and `password`
 * from flags' config chain (DIST_TEST_USER / DIST_TEST_PASSWORD, then
 * `[dist_test]` in the config file), as dist_test's client read them.
 * A user without a password (or the reverse) is a mistake worth saying so.
 */
export function configuredCredentials(config: Config): Credentials | undefined {
  const user = config.resolve("user");
  const password = config.resolve("password");
  if (user.value === undefined && password.value === undefined) return undefined;
  if (password.value === undefined) return undefined;
  if (user.value === undefined) {
    throw new DtError("invalid_input", `a password is configured (from the ${password.source}) but no user; set DIST_TEST_USER or user under [dist_test]`);
  }
  return { user: user.value, password: password.value };
}

/**
 * The fetch a client of a dt server uses: one that answers HTTP Digest
 * challenges when credentials are configured, plain fetch otherwise.
 *
 * @example
 *   const cas = new CasClient(server, { fetch: authenticatedFetch(ctx.config) });
 */
export function authenticatedFetch(config: Config, inner: typeof fetch = fetch): typeof fetch {
  const credentials = configuredCredentials(config);
  return credentials ? digestFetch(credentials, inner) : inner;
}

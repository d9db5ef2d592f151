import { defineCommand } from "citty";
import { accountSecretsOf, checkUser } from "../common/auth/policy.ts";
import { DtError } from "../common/errors.ts";

/**
 * Prints one account's entry for `account_digests`, so that a server's
 * config holds H(user:dist_test:password) rather than the password. The
 * password is read from standard input (never a flag: flags show in `ps`).
 */
export default defineCommand({
  meta: { name: "account-digest", description: "Print a user's account_digests entry for a server's [dist_test] config; the password is read from standard input" },
  args: {
    user: { type: "positional", required: true, description: "The account's user name" },
  },
  async run({ args }) {
    checkUser(args.user, "USER");
    if (process.stdin.isTTY) process.stderr.write(`password for ${args.user} (input is shown; pipe it in to hide it): `);
    const password = (await new Response(Bun.stdin.stream()).text()).replace(/\r?\n$/, "");
    if (password === "") throw new DtError("invalid_input", "no password on standard input; e.g. printf %s \"$PASSWORD\" | dt account-digest alice");
    process.stdout.write(`${JSON.stringify({ [args.user]: accountSecretsOf(args.user, password) })}\n`);
  },
});

/**
 * A master that lets no address in without a password: dt archive, dt
 * submit and dt slave answer its Digest challenges with the account in the
 * config file or DIST_TEST_USER / DIST_TEST_PASSWORD, and are refused with
 * a clear message and exit code 8 without it.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";
import { shellScript, writeTree } from "../helpers/tree.ts";
import { E2E_TEST_TIMEOUT_MS, useCluster } from "./cluster.ts";

const setup = useCluster("dt-e2e-auth-");

/** Server side and client side of one config file, as a small team would have it. */
const CONFIG = `[dist_test]
# Documentation addresses: nobody here is in them, so every write needs the account.
allowed_ip_ranges = 192.0.2.0/24
accounts = {"ci": "correct horse"}
user = ci
password = correct horse
`;

describe("a master that needs a password", () => {
  test("archive, submit and slave with the configured account run a job; without it, or with a wrong one, each is refused with exit 8", async () => {
    const c = await setup();
    mkdirSync(c.env.HOME!, { recursive: true });
    writeFileSync(join(c.env.HOME!, ".dist_test.cnf"), CONFIG);
    const master = await c.startMaster();
    // The slave has its account in its environment too, as under systemd; its tasks must not see it.
    c.env.DIST_TEST_USER = "ci";
    c.env.DIST_TEST_PASSWORD = "correct horse";
    await c.startSlave("s1", 1);
    delete c.env.DIST_TEST_USER;
    delete c.env.DIST_TEST_PASSWORD;

    const tree = join(c.dir, "tree");
    await writeTree(tree, { "pass.sh": shellScript('echo "passed with a password"\nenv') });
    const archived = await runCli(["archive", "-I", master.url, "--path", "pass.sh", "--hash-cache", "none", "--", "./pass.sh"], { cwd: tree, env: c.env });
    expect(archived.exitCode, archived.stderr).toBe(0);
    const hash = archived.stdout.trim().split(/\s+/)[0]!;
    writeFileSync(join(c.dir, "tasks.json"), JSON.stringify({ tasks: [{ isolate_hash: hash, description: "pass" }] }));
    const submitted = await c.dt(["submit", "tasks.json", "--poll-interval", "0.2"]);
    expect(submitted.exitCode, submitted.stderr).toBe(0);
    expect(submitted.stdout).toContain("1/1 tests complete\n");
    const jobId = readFileSync(join(c.env.HOME!, ".dist-test-last-job"), "utf8");
    const [task] = await c.api.tasks(jobId);
    const taskOutput = await (await fetch(task!.attempts[0]!.stdout_link!)).text();
    expect(taskOutput).toContain("passed with a password");
    expect(taskOutput).not.toContain("correct horse");
    expect(taskOutput).not.toContain("DIST_TEST_PASSWORD");

    const wrong = await runCli(["submit", "tasks.json", "--no-wait"], { cwd: c.dir, env: { ...c.env, DIST_TEST_PASSWORD: "battery staple" } });
    expect(wrong.exitCode).toBe(8);
    expect(wrong.stderr).toContain('the master refused user "ci"');

    // No account at all: the config names only the master.
    const bare = join(c.dir, "bare.cnf");
    writeFileSync(bare, `[dist_test]\nmaster = ${master.url}\n`);
    const anonymous = { ...c.env, DIST_TEST_CNF: bare };
    const refused = await runCli(["submit", "tasks.json", "--no-wait"], { cwd: c.dir, env: anonymous });
    expect(refused.exitCode).toBe(8);
    expect(refused.stderr).toContain("set user and password under [dist_test] in the config, or DIST_TEST_USER and DIST_TEST_PASSWORD");
    const upload = await runCli(["archive", "-I", master.url, "--path", "pass.sh", "--hash-cache", "none", "--", "./pass.sh", "changed"], { cwd: tree, env: anonymous });
    expect(upload.exitCode).toBe(8);
    expect(upload.stderr).toContain("needs a user and password");
    const slave = await runCli(["slave", "--master", master.url, "--slots", "1", "--cache-dir", join(c.dir, "anon-cache"), "--name", "anon"], { cwd: c.dir, env: anonymous, deadlineMs: 20_000 });
    expect(slave.exitCode).toBe(8);
    expect(slave.stderr).toContain("needs a user and password");

    // Reads stay open: anyone may look at the job.
    const status = await runCli(["status", "--json"], { cwd: c.dir, env: { ...anonymous, DIST_TEST_JOB_PATH: join(c.env.HOME!, ".dist-test-last-job") } });
    expect(status.exitCode, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ status: "finished" });
  }, E2E_TEST_TIMEOUT_MS);
});

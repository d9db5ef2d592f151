/**
 * Every registered subcommand, run as users run dt (a child process): an
 * unknown flag is refused with exit 2 before any work (no request reaches the
 * master or the CAS the environment names, nothing is written), and --help
 * is plain text with each default written once.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { CommandDef } from "citty";
import { EXIT } from "../../src/commands/exit-codes.ts";
import { wantsColour } from "../../src/commands/usage.ts";
import { subCommands } from "../../src/main.ts";
import { CLI_TEST_TIMEOUT_MS, cliEnv, killRunningClis, runCli } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";

const temps = new TempDirs();
afterEach(() => killRunningClis());
afterAll(() => temps.cleanup());

/** Any request at all is a failure: a refused command line must not reach a server. */
let requests: string[] = [];
let server: ReturnType<typeof Bun.serve>;
beforeAll(() => {
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req) => {
      requests.push(`${req.method} ${new URL(req.url).pathname}`);
      return new Response("{}", { status: 500 });
    },
  });
});
afterAll(() => server.stop(true));

/**
 * The child's environment: HOME in a fresh directory, and bun's transpiler
 * cache off (running from source, bun would write it under
 * $XDG_CACHE_HOME/bun; the compiled dt has none), so anything in HOME is dt's.
 */
const env = (home: string, extra: Record<string, string> = {}) => cliEnv(home, { BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0", ...extra });

/** `dt <name>` and, for a command with subcommands, `dt <name> <sub>` for each. */
async function commandLines(): Promise<string[][]> {
  const lines: string[][] = [];
  for (const [name, lazy] of Object.entries(subCommands)) {
    lines.push([name]);
    const { command } = await lazy();
    const subs = (await command.subCommands) as Record<string, CommandDef> | undefined;
    for (const sub of Object.keys(subs ?? {})) lines.push([name, sub]);
  }
  return lines;
}

/** At most this many dt processes at once: the machine has 2 cores and other tests. */
const PARALLEL = 3;

async function forEachLine(each: (line: string[]) => Promise<void>): Promise<void> {
  const lines = await commandLines();
  for (let i = 0; i < lines.length; i += PARALLEL) await Promise.all(lines.slice(i, i + PARALLEL).map(each));
}

test(
  "every subcommand refuses an unknown flag with exit 2, a did-you-mean pointer to its help, and does no work",
  async () => {
    const home = await temps.make("dt-cli-home-");
    const cwd = await temps.make("dt-cli-cwd-");
    const url = `http://127.0.0.1:${server.port}`;
    const childEnv = env(home, { DIST_TEST_MASTER: url, ISOLATE_SERVER: url });
    requests = [];
    const seen: string[] = [];
    await forEachLine(async (line) => {
      // The flag comes first, a plausible positional after: the flag is what is refused, whatever else is missing.
      const r = await runCli([...line, "--no-such-flag", "x"], { cwd, env: childEnv });
      const command = `dt ${line.join(" ")}`;
      expect({ command, code: r.exitCode, stdout: r.stdout }).toEqual({ command, code: EXIT.invalidInput, stdout: "" });
      expect(r.stderr).toBe(`${command}: unknown flag --no-such-flag (${command} --help lists the flags)\n`);
      seen.push(command);
    });
    expect(seen).toContain("dt slaves drain");
    expect(seen.length).toBeGreaterThan(Object.keys(subCommands).length);
    expect(requests).toEqual([]);
    expect(readdirSync(home)).toEqual([]);
    expect(readdirSync(cwd)).toEqual([]);
  },
  CLI_TEST_TIMEOUT_MS * 6,
);

test(
  "every subcommand's --help, piped, has no terminal escapes and writes each flag's default once",
  async () => {
    const home = await temps.make("dt-cli-home-");
    // TERM set as a terminal's would be: colour is left out because stdout is a pipe, not because of the environment.
    const childEnv = env(home, { TERM: "xterm-256color" });
    await forEachLine(async (line) => {
      const r = await runCli([...line, "--help"], { env: childEnv });
      const command = `dt ${line.join(" ")}`;
      expect({ command, code: r.exitCode, stderr: r.stderr }).toEqual({ command, code: 0, stderr: "" });
      expect(r.stdout).toContain(`USAGE ${command}`);
      expect({ command, escapes: r.stdout.includes("\x1b[") }).toEqual({ command, escapes: false });
      for (const text of r.stdout.split("\n")) {
        expect({ command, text, defaultsAtMostOnce: (text.match(/\(default/gi)?.length ?? 0) <= 1 }).toMatchObject({ defaultsAtMostOnce: true });
        expect({ command, text, trailingBlank: /\s$/.test(text) }).toMatchObject({ trailingBlank: false });
      }
    });
    // And dt alone, which prints the commands.
    const top = await runCli(["--help"], { env: childEnv });
    expect(top.exitCode).toBe(0);
    expect(top.stdout).not.toContain("\x1b[");
    expect(top.stdout).toContain("run-isolated");
  },
  CLI_TEST_TIMEOUT_MS * 6,
);

test("colour only on a terminal, and never with NO_COLOR (any value) or TERM=dumb", () => {
  expect(wantsColour({ isTTY: true }, {})).toBe(true);
  expect(wantsColour({ isTTY: false }, {})).toBe(false);
  expect(wantsColour({}, {})).toBe(false);
  expect(wantsColour({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
  expect(wantsColour({ isTTY: true }, { NO_COLOR: "yes" })).toBe(false);
  expect(wantsColour({ isTTY: true }, { TERM: "dumb" })).toBe(false);
});

test(
  "dt local --slave 3 tasks.json, dt submit --jsn, dt local with a tasks file and commands, dt sumbit: refused as the user sees them",
  async () => {
    const home = await temps.make("dt-cli-home-");
    const childEnv = env(home, { DIST_TEST_MASTER: `http://127.0.0.1:${server.port}` });
    requests = [];
    const local = await runCli(["local", "--slave", "3", "tasks.json"], { env: childEnv, cwd: home });
    expect(local.exitCode).toBe(EXIT.invalidInput);
    expect(local.stderr).toBe("dt local: unknown flag --slave; did you mean --slaves? (dt local --help lists the flags)\n");
    const submit = await runCli(["submit", "--jsn", "tasks.json"], { env: childEnv, cwd: home });
    expect(submit.exitCode).toBe(EXIT.invalidInput);
    expect(submit.stderr).toStartWith("dt submit: unknown flag --jsn");
    const both = await runCli(["local", "tasks.json", "--", "make test"], { env: childEnv, cwd: home });
    expect(both.exitCode).toBe(EXIT.invalidInput);
    expect(both.stderr).toBe("dt local: commands after -- are for --dir DIR; a tasks.json names its commands in its manifests\n");
    const top = await runCli(["sumbit", "tasks.json"], { env: childEnv, cwd: home });
    expect(top.exitCode).toBe(EXIT.invalidInput);
    expect(top.stderr).toStartWith('dt: unknown command "sumbit"; did you mean submit?');
    expect(requests).toEqual([]);
    expect(readdirSync(home)).toEqual([]);
  },
  CLI_TEST_TIMEOUT_MS,
);

test("a nested command's --help is its own, also after a parent flag's value", async () => {
  const home = await temps.make("dt-cli-home-");
  for (const line of [["slaves", "drain", "--help"], ["slaves", "--master", "http://m", "drain", "--help"], ["slaves", "--json", "drain", "h1", "-h"]]) {
    const r = await runCli(line, { env: env(home) });
    expect({ line, code: r.exitCode }).toEqual({ line, code: 0 });
    expect(r.stdout).toContain("USAGE dt slaves drain [OPTIONS] <NAME>");
    expect(r.stdout).toContain("--idle");
  }
}, CLI_TEST_TIMEOUT_MS);

test("luci-go's -help gives the help of the commands that take its Go-style flags", async () => {
  const home = await temps.make("dt-cli-home-");
  for (const name of ["archive", "batcharchive"]) {
    const r = await runCli([name, "-isolate-server=http://cas", "-help"], { env: env(home) });
    expect({ name, code: r.exitCode, stderr: r.stderr }).toEqual({ name, code: 0, stderr: "" });
    expect(r.stdout).toContain(`USAGE dt ${name} [OPTIONS]`);
  }
}, CLI_TEST_TIMEOUT_MS);


/** util-linux's script(1) gives dt a terminal for stdout; where it is missing, the unit test of wantsColour above stands. */
const SCRIPT = Bun.which("script");

test.skipIf(!SCRIPT)("on a terminal, help is coloured unless NO_COLOR is set", async () => {
  const home = await temps.make("dt-cli-home-");
  const main = join(import.meta.dir, "..", "..", "src", "main.ts");
  const run = async (extra: Record<string, string>) => {
    const child = Bun.spawn([SCRIPT!, "-qec", `'${process.execPath}' '${main}' cancel --help`, "/dev/null"], {
      env: env(home, { TERM: "xterm-256color", ...extra }),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out] = await Promise.all([new Response(child.stdout).text(), child.exited]);
    expect(out).toContain("dt cancel [OPTIONS] [JOB]");
    return out;
  };
  expect(await run({})).toContain("\x1b[");
  expect(await run({ NO_COLOR: "1" })).not.toContain("\x1b[");
}, CLI_TEST_TIMEOUT_MS);

test(
  "dt slave and dt run-isolated refuse a --max-cache-size too small to be meant (0, a number without its unit) or unreadable, with exit 2, before any request or cleanup",
  async () => {
    const home = await temps.make("dt-cli-home-");
    const cwd = await temps.make("dt-cli-cwd-");
    const url = `http://127.0.0.1:${server.port}`;
    const childEnv = env(home, { DIST_TEST_MASTER: url, ISOLATE_SERVER: url });
    requests = [];
    const slave = (size: string) => runCli(["slave", "--cache-dir", join(cwd, "cache"), "--root-dir", join(cwd, "runs"), "--max-cache-size", size], { cwd, env: childEnv });
    const zero = await slave("0");
    expect([zero.exitCode, zero.stderr]).toEqual([
      EXIT.invalidInput,
      'dt slave: --max-cache-size: "0" is 0 B, less than the 1.0 MiB a cache needs; a number without a unit is bytes: write e.g. 50GiB\n',
    ]);
    const unitless = await slave("50");
    expect(unitless.stderr).toContain('--max-cache-size: "50" is 50 B, less than the 1.0 MiB a cache needs');
    const garbage = await slave("lots");
    expect([garbage.exitCode, garbage.stderr]).toEqual([EXIT.invalidInput, 'dt slave: --max-cache-size: cannot read "lots" as a size; write e.g. 500MB, 10GiB or 1048576\n']);
    const run = await runCli(["run-isolated", "--cache", join(cwd, "cache"), "--hash", "a".repeat(64), "--max-cache-size", "0"], { cwd, env: childEnv });
    expect([run.exitCode, run.stderr]).toEqual([
      EXIT.invalidInput,
      'dt run-isolated: --max-cache-size: "0" is 0 B, less than the 1.0 MiB a cache needs; a number without a unit is bytes: write e.g. 50GiB\n',
    ]);
    // Refused before the slave asked the master anything or made its directories.
    expect(requests).toEqual([]);
    expect(readdirSync(cwd)).toEqual([]);
  },
  CLI_TEST_TIMEOUT_MS * 2,
);

test(
  "a service's bad flag value is refused with exit 2 before it opens anything (no master call, no directory, no hang)",
  async () => {
    const home = await temps.make("dt-cli-home-");
    const url = `http://127.0.0.1:${server.port}`;
    const childEnv = env(home, { DIST_TEST_MASTER: url });
    const data = join(home, "state");
    // [command line, what stderr starts with]; each also gets a directory it must not make.
    const cases: [string[], string][] = [
      // The slave read these after it had emptied its directory and asked the master, which it retried while down.
      [["slave", "--cache-dir", data, "--min-free-disk", "1XB"], 'dt slave: --min-free-disk: cannot read "1XB" as a size'],
      [["slave", "--cache-dir", data, "--quarantine-cooldown", "5x"], "dt slave: --quarantine-cooldown: cannot read"],
      [["slave", "--cache-dir", data, "--drain-timeout", "soon"], "dt slave: --drain-timeout: cannot read"],
      [["slave", "--cache-dir", data, "--max-cache-size", "1ZB"], "dt slave: --max-cache-size: cannot read"],
      [["slave", "--cache-dir", data, "--metrics-listen", "9464"], 'dt slave: --metrics-listen "9464": write HOST:PORT'],
      // The master printed this one and then never exited: its socket and database stayed open.
      [["master", "--port", "0", "--data-dir", data, "--cas-store", "/srv/cas"], 'dt master: --cas-store "/srv/cas": expected s3://BUCKET/PREFIX'],
      [["master", "--port", "0", "--data-dir", data, "--public-url", "dt-master:8081"], 'dt master: --public-url "dt-master:8081": write an http(s) URL'],
      [["master", "--port", "0", "--data-dir", data, "--isolate-server", "cas.example"], 'dt master: --isolate-server "cas.example": write an http(s) URL'],
      [["master", "--port", "0", "--data-dir", data, "--s3-endpoint", "minio:9000"], 'dt master: --s3-endpoint "minio:9000": write the server\'s http(s) URL'],
      [["master", "--port", "0", "--data-dir", data, "--auto-quarantine", "1.5"], 'dt master: --auto-quarantine "1.5": must be a flake rate above 0 and at most 1'],
      [["master", "--port", "0", "--data-dir", data, "--auto-quarantine", "0.2", "--auto-quarantine-days", "0"], 'dt master: --auto-quarantine-days "0": must be a number of days'],
      [["master", "--port", "0", "--data-dir", data, "--auto-quarantine", "0.2", "--auto-quarantine-min-runs", "2.5"], 'dt master: --auto-quarantine-min-runs "2.5": must be an integer'],
      [["isolate-server", "--port", "0", "--data-dir", data, "--min-age", "an hour"], 'dt isolate-server: --min-age: cannot read "an hour" as a duration'],
    ];
    requests = [];
    for (const [line, message] of cases) {
      const r = await runCli(line, { env: childEnv, cwd: home });
      expect({ line, code: r.exitCode, stderr: r.stderr.split("\n")[0]!.slice(0, message.length) }).toEqual({ line, code: EXIT.invalidInput, stderr: message });
      expect({ line, made: await Bun.file(data).exists() || readdirSync(home).includes("state") }).toEqual({ line, made: false });
    }
    expect(requests).toEqual([]);
  },
  CLI_TEST_TIMEOUT_MS * 4,
);

test(
  "an address the master or the CAS cannot listen on is exit 2 naming --host, not an internal error with a stack",
  async () => {
    const home = await temps.make("dt-cli-home-");
    for (const name of ["master", "isolate-server"]) {
      const r = await runCli([name, "--port", "0", "--host", "no such host!", "--data-dir", join(home, name)], { env: env(home), cwd: home });
      expect({ name, code: r.exitCode }).toEqual({ name, code: EXIT.invalidInput });
      expect(r.stderr.split("\n").some((line) => line.startsWith(`dt ${name}: cannot listen on no such host!:0 (--host, --port): `))).toBe(true);
      expect(r.stderr).not.toContain("    at ");
    }
  },
  CLI_TEST_TIMEOUT_MS * 2,
);

/**
 * The command line as dt reads it, through the real command definitions:
 * what is refused (and how the refusal reads), and what citty then parses
 * from the line checkCommandArgv hands it.
 */
import { describe, expect, test } from "bun:test";
import { type CommandDef, parseArgs } from "citty";
import { type ArgvPolicy, UsageError, checkCommandArgv } from "../../src/commands/argv.ts";
import archive, { argvPolicy as archivePolicy } from "../../src/commands/archive.ts";
import batcharchive, { argvPolicy as batchPolicy } from "../../src/commands/batcharchive.ts";
import local, { argvPolicy as localPolicy } from "../../src/commands/local.ts";
import loop, { argvPolicy as loopPolicy } from "../../src/commands/loop.ts";
import master from "../../src/commands/master.ts";
import slave, { argvPolicy as slavePolicy } from "../../src/commands/slave.ts";
import slaves from "../../src/commands/slaves.ts";
import submit from "../../src/commands/submit.ts";
import watch from "../../src/commands/watch.ts";
import { closestMatch } from "../../src/common/suggest.ts";

async function refusal(cmd: CommandDef<any>, argv: string[], policy: ArgvPolicy = {}, name = "dt x"): Promise<string> {
  try {
    await checkCommandArgv(cmd, argv, policy, name);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).code).toBe("invalid_input");
    return (err as Error).message;
  }
  throw new Error(`${argv.join(" ")} was accepted`);
}

/** What the command's run() would see: citty's parse of the checked line. */
async function parsed(cmd: CommandDef<any>, argv: string[], policy: ArgvPolicy = {}) {
  const line = await checkCommandArgv(cmd, argv, policy, "dt x");
  return { line, args: parseArgs(line, (cmd.args ?? {}) as any) as Record<string, unknown> };
}

describe("refused, naming the flag, with a did-you-mean when one is close", () => {
  test.each([
    [["--json", "t.json"], "dt submit: unknown flag --json (dt submit --help lists the flags)"],
    [["--wiat", "t.json"], "dt submit: unknown flag --wiat; did you mean --wait? (dt submit --help lists the flags)"],
    [["--no-wiat", "t.json"], "dt submit: unknown flag --no-wiat; did you mean --no-wait? (dt submit --help lists the flags)"],
    [["--outputDir", "x", "t.json"], "dt submit: unknown flag --outputDir; did you mean --output-dir? (dt submit --help lists the flags)"],
    [["--jun=x", "t.json"], "dt submit: unknown flag --jun; did you mean --junit? (dt submit --help lists the flags)"],
    [["-lz", "t.json"], "dt submit: unknown flag -z (dt submit --help lists the flags)"],
    [["-priority=3", "t.json"], "dt submit: unknown flag -priority; did you mean --priority? (dt submit --help lists the flags)"],
    [["--no-name", "t.json"], "dt submit: unknown flag --no-name; did you mean --name? (dt submit --help lists the flags)"],
  ])("dt submit %j", async (argv, message) => {
    expect(await refusal(submit, argv, {}, "dt submit")).toBe(message);
  });

  test("dt local --slave 3 tasks.json is an unknown flag, not a file named 3", async () => {
    expect(await refusal(local, ["--slave", "3", "tasks.json"], localPolicy, "dt local")).toStartWith("dt local: unknown flag --slave; did you mean --slaves?");
  });

  test("a flag pasted with a typographic dash (—no-wait) is named, not read as the tasks file; after -- it is a positional", async () => {
    expect(await refusal(submit, ["—no-wait", "t.json"], {}, "dt submit")).toBe(
      `dt submit: "—no-wait" starts with a typographic dash (U+2014), not '-'; did you mean --no-wait? (a file or job whose name starts with it goes after --)`,
    );
    expect(await refusal(submit, ["t.json", "–name", "x"], {}, "dt submit")).toStartWith(`dt submit: "–name" starts with a typographic dash (U+2013), not '-'; did you mean --name?`);
    expect((await parsed(submit, ["--name", "—x", "--", "—odd.json"])).args).toMatchObject({ name: "—x", tasks: "—odd.json" });
  });

  test("a string flag without a value, or followed by a flag, is refused; =VALUE takes any value", async () => {
    expect(await refusal(submit, ["t.json", "--name"], {}, "dt submit")).toBe("dt submit: --name needs a value");
    expect(await refusal(submit, ["--name", "--wait", "t.json"], {}, "dt submit")).toContain("--name needs a value (the next word, --wait, is a flag; write --name=VALUE");
    expect(await refusal(submit, ["-n", "-l", "t.json"], {}, "dt submit")).toContain("-n needs a value");
    expect(await refusal(submit, ["--name", "--", "t.json"], {}, "dt submit")).toContain("--name needs a value");
    expect((await parsed(submit, ["--name=--wait", "t.json"])).args.name).toBe("--wait");
  });

  test("a boolean takes no value but true or false", async () => {
    expect(await refusal(submit, ["--logs=yes", "t.json"], {}, "dt submit")).toBe("dt submit: --logs takes no value; write --logs or --no-logs");
    expect(await refusal(submit, ["--no-wait=1", "t.json"], {}, "dt submit")).toBe("dt submit: --no-wait takes no value");
  });

  test("too many positionals are named; a missing one is named with what it is", async () => {
    expect(await refusal(submit, ["a.json", "b.json", "c"], {}, "dt submit")).toBe('dt submit: unexpected arguments "b.json" "c"; dt submit takes TASKS, flags and their values aside');
    expect(await refusal(master, ["8081"], {}, "dt master")).toBe('dt master: unexpected argument "8081"; dt master takes no arguments, flags and their values aside');
    expect(await refusal(submit, ["--no-wait"], {}, "dt submit")).toStartWith("dt submit: missing TASKS: JSON file");
  });

  test("a required flag that is missing is named", async () => {
    expect(await refusal(loop, ["t.json"], loopPolicy, "dt loop")).toStartWith("dt loop: --count is required: How many times to run it");
  });

  test("words after -- are positionals of a command that gives -- no meaning: one too many is refused, with the command's reason", async () => {
    expect(await refusal(submit, ["t.json", "--", "x"], {}, "dt submit")).toBe('dt submit: unexpected argument "x"; dt submit takes TASKS, flags and their values aside');
    expect(await refusal(master, ["--", "x"], {}, "dt master")).toBe('dt master: unexpected argument "x"; dt master takes no arguments, flags and their values aside');
    expect(await refusal(loop, ["-n", "3", "t.json", "--", "--gtest_filter=x"], loopPolicy, "dt loop")).toContain("dt loop: does not pass extra arguments to the test");
    expect(await refusal(loop, ["-n", "3", "--", "t.json", "--gtest_filter=x"], loopPolicy, "dt loop")).toContain("dt loop: does not pass extra arguments to the test");
  });

  test("subcommands: unknown ones with a guess, their own flags checked, parent flags moved after the name", async () => {
    expect(await refusal(slaves, ["dran", "x"], {}, "dt slaves")).toBe('dt slaves: unknown command "dran"; did you mean drain? (commands: list, drain, quarantine, resume)');
    expect(await refusal(slaves, ["drain", "x", "--bogus"], {}, "dt slaves")).toBe("dt slaves drain: unknown flag --bogus (dt slaves drain --help lists the flags)");
    expect(await refusal(slaves, ["resume", "x", "--idle"], {}, "dt slaves")).toStartWith("dt slaves resume: unknown flag --idle");
    expect(await checkCommandArgv(slaves, ["--master", "http://m", "drain", "-h1", "--idle"], {}, "dt slaves").catch((e) => e.message)).toContain("unknown flag -h");
    expect(await checkCommandArgv(slaves, ["--master", "http://m", "drain", "host1", "--idle"], {}, "dt slaves")).toEqual(["drain", "--master=http://m", "--idle", "host1"]);
    expect(await refusal(slaves, ["--", "drain", "x"], {}, "dt slaves")).toBe("dt slaves: -- before a command's name; name the command first (commands: list, drain, quarantine, resume)");
    // No name: the default (list) takes the line.
    expect(await checkCommandArgv(slaves, ["--json"], {}, "dt slaves")).toEqual(["--json"]);
  });
});

describe("accepted, and parsed as meant", () => {
  test("values that start with a dash, aliases, grouped booleans, negations", async () => {
    const { args } = await parsed(submit, ["--priority", "-5", "-la", "-d", "out", "--no-wait", "-nnightly", "t.json"]);
    expect(args).toMatchObject({ priority: "-5", logs: true, artifacts: true, "output-dir": "out", wait: false, name: "nightly", tasks: "t.json" });
    expect((await parsed(submit, ["-n=x", "--wait=false", "t.json"])).args).toMatchObject({ name: "x", wait: false });
  });

  test("POSIX: the positionals after -- (dt watch -- JOB, a file name that starts with -), as citty read them before", async () => {
    expect((await parsed(watch, ["--", "job1"])).args.job).toBe("job1");
    expect((await parsed(submit, ["--no-wait", "--", "-odd.json"])).args).toMatchObject({ tasks: "-odd.json", wait: false });
    expect((await parsed(loop, ["-n", "3", "--", "t.json"], loopPolicy)).args).toMatchObject({ target: "t.json", count: "3" });
    expect(await checkCommandArgv(slaves, ["drain", "--idle", "--", "host1"], {}, "dt slaves")).toEqual(["drain", "--idle", "--", "host1"]);
  });

  test("a flag given twice keeps its last value, but --dimensions joins its lists (a unit's DT_SLAVE_ARGS and its instance's)", async () => {
    const { args } = await parsed(slave, ["--name", "h-1", "--dimensions", "pool=a", "--name", "h-2", "--dimensions", "disk=ssd"], slavePolicy);
    expect(args).toMatchObject({ name: "h-2", dimensions: "pool=a,disk=ssd" });
    expect((await parsed(slave, ["--dimensions", "pool=a", "--dimensions=gpu=1,pool=b", "--dimensions", ""], slavePolicy)).args.dimensions).toBe("pool=a,gpu=1,pool=b");
    expect((await parsed(slave, ["--dimensions", "pool=a"], slavePolicy)).line).toEqual(["--dimensions=pool=a"]);
  });

  test("--slaves 3 is the flag's value, not a positional", async () => {
    const { args } = await parsed(local, ["--slaves", "3", "tasks.json"], localPolicy);
    expect(args).toMatchObject({ slaves: "3", tasks: "tasks.json" });
  });

  test("a string flag named no-… keeps its value (citty alone read --no-resource-timeout 5m as a negation and kept 10m)", async () => {
    expect((await parsed(master, ["--no-resource-timeout", "5m"])).args["no-resource-timeout"]).toBe("5m");
    expect((await parsed(master, ["--no-resource-timeout=1h"])).args["no-resource-timeout"]).toBe("1h");
  });

  test("everything after -- is passed through untouched", async () => {
    const after = ["--json", "-x", "--", "a b", "--no-wait"];
    const { line } = await parsed(local, ["--dir", ".", "--", ...after], localPolicy);
    expect(line).toEqual(["--dir=.", "--", ...after]);
  });

  test("archive: Go-style flags, isolate.py's --path-variable KEY VALUE, the command after --", async () => {
    const { line, args } = await parsed(archive, ["-isolate-server=http://cas", "-I=http://other", "-i", "x.isolate", "--path-variable", "DIR", "out", "-config-variable", "OS=linux", "--path", "a", "--path=b"], archivePolicy);
    expect(args).toMatchObject({ "isolate-server": "http://other", isolate: "x.isolate" });
    expect(line).toEqual(["--isolate-server=http://cas", "--isolate-server=http://other", "--isolate=x.isolate", "--path-variable=DIR=out", "--config-variable=OS=linux", "--path=a", "--path=b"]);
    expect(await refusal(archive, ["-isolate-servr=x"], archivePolicy, "dt archive")).toStartWith("dt archive: unknown flag --isolate-servr; did you mean --isolate-server?");
  });

  test("batcharchive takes any number of .gen.json files, before -- or after it", async () => {
    const { line } = await parsed(batcharchive, ["-I", "http://cas", "a.gen.json", "b.gen.json", "--", "c.gen.json"], batchPolicy);
    expect(line).toEqual(["--isolate-server=http://cas", "a.gen.json", "b.gen.json", "--", "c.gen.json"]);
  });
});

test("closestMatch: close names, unique prefixes, nothing for unrelated words", () => {
  expect(closestMatch("timout", ["timeout", "env"])).toBe("timeout");
  expect(closestMatch("slave", ["slaves", "slots"])).toBe("slaves");
  expect(closestMatch("out", ["output-dir", "junit"])).toBe("output-dir");
  expect(closestMatch("json", ["junit", "name", "logs"])).toBeUndefined();
  expect(closestMatch("a", ["ab", "b"])).toBe("ab");
  expect(closestMatch("", ["x"])).toBeUndefined();
});

import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { isDtError } from "../../src/common/errors.ts";
import { createLogger } from "../../src/common/log.ts";
import { bootId, parseStat, readProcess, selfAndAncestors } from "../../src/slave/proc-table.ts";
import { type GroupRecord, RUN_ID_ENV } from "../../src/slave/run-ledger.ts";
import { openSlaveDir, slaveDirName } from "../../src/slave/slave-dir.ts";
import { TempDirs } from "../helpers/temp.ts";
import { processAlive, waitUntil } from "../helpers/wait.ts";

const temps = new TempDirs();
const started: { pid: number }[] = [];
afterEach(async () => {
  for (const { pid } of started.splice(0)) {
    // The group, and the process itself: one left behind by its group's leader leads no group.
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, "SIGKILL");
      } catch {
        // Gone, as the test wanted.
      }
    }
  }
  await temps.cleanup();
});

const log = createLogger({ level: "silent" });

/** `sleep 300` in its own process group and session, as execute starts a command; `env` added to this process's environment. */
async function startGroup(env: Record<string, string> = {}): Promise<Subprocess> {
  const child = Bun.spawn(["sleep", "300"], { detached: true, stdin: "ignore", stdout: "ignore", stderr: "ignore", env: { ...process.env, ...env } });
  started.push(child);
  // Until the exec, /proc shows the spawning process's command and environment.
  await waitUntil(() => readFileOr(`/proc/${child.pid}/cmdline`).startsWith("sleep"), `process ${child.pid} to exec sleep`, 15_000);
  return child;
}

function readFileOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** The record a slave would have written for `child`, with its real start time unless told otherwise. */
function recordOf(child: Subprocess, runId: string, startTime = readProcess(child.pid)!.startTime): GroupRecord {
  return { run_id: runId, lease_id: `lease-${runId}`, task_id: `task-${runId}`, boot_id: bootId(), pgid: child.pid, start_time: startTime };
}

/** Writes records into the ledger of the slave `name` under `root`, as a slave that was then SIGKILLed leaves them. */
function leaveRecords(root: string, name: string, records: GroupRecord[]): string {
  const dir = join(root, slaveDirName(name));
  mkdirSync(join(dir, "groups"), { recursive: true });
  for (const r of records) writeFileSync(join(dir, "groups", `${r.run_id}.json`), JSON.stringify(r));
  return dir;
}

async function waitGone(pid: number): Promise<void> {
  await waitUntil(() => !processAlive(pid), `process ${pid} to end`, 10_000);
}

describe("openSlaveDir: a slave's next life ends what its previous one left", () => {
  test("kills a recorded group whose leader is the process it started, and not one whose pid now names another process", async () => {
    const root = await temps.make("dt-slave-dir-");
    const ours = await startGroup();
    const reused = await startGroup();
    // The second record's start time is not its leader's: the slave's process ended and its pid was given to this one.
    const dir = leaveRecords(root, "a", [recordOf(ours, "r1"), recordOf(reused, "r2", readProcess(reused.pid)!.startTime - 1)]);
    mkdirSync(join(dir, "dt-run-old", "ir"), { recursive: true });
    mkdirSync(join(dir, "dt-slave-logs-old"));

    const opened = await openSlaveDir({ rootDir: root, name: "a", log });

    expect(opened.dir).toBe(dir);
    expect(processAlive(ours.pid)).toBe(false);
    expect(opened.previous.killed).toEqual([ours.pid]);
    expect(processAlive(reused.pid)).toBe(true);
    expect(readdirSync(dir)).toEqual(["owner.json"]);
    expect(opened.ledger.read().records).toEqual([]);
  }, 20_000);

  test("finds processes by the run id in their environment: ones that left the session, and ones left after their leader exited", async () => {
    const root = await temps.make("dt-slave-dir-");
    const escaped = await startGroup({ [RUN_ID_ENV]: "r1" });
    const stranger = await startGroup({ [RUN_ID_ENV]: "someone-elses" });
    // A record whose leader is gone (pid of no process now): the group is found only through the environment.
    const leaderGone = { ...recordOf(escaped, "r1"), pgid: 2 ** 22 + 7, start_time: 1 };
    leaveRecords(root, "a", [leaderGone]);

    const opened = await openSlaveDir({ rootDir: root, name: "a", log });

    expect(opened.previous.killed).toEqual([escaped.pid]);
    expect(processAlive(escaped.pid)).toBe(false);
    expect(processAlive(stranger.pid)).toBe(true);
  }, 20_000);

  test("after the leader exited, a group member with a cleared environment is found by its working directory in the slave's directory, and only so", async () => {
    const root = await temps.make("dt-slave-dir-");
    const dir = join(root, slaveDirName("a"));
    const runDir = join(dir, "dt-run-old");
    mkdirSync(runDir, { recursive: true });
    /** A group whose leader (sh) exits at once, leaving `sleep` with an empty environment in `cwd`; the record it would have had. */
    const leftBehind = async (cwd: string, runId: string) => {
      const sh = Bun.spawn(["sh", "-c", 'env -i "$0" 300 </dev/null >/dev/null 2>&1 & echo $!', Bun.which("sleep")!], { detached: true, cwd, stdout: "pipe", stderr: "ignore" });
      const leaderStart = readProcess(sh.pid)?.startTime ?? null;
      const pid = Number((await new Response(sh.stdout).text()).trim());
      await sh.exited;
      started.push({ pid });
      const record: GroupRecord = { run_id: runId, lease_id: "l", task_id: "t", boot_id: bootId(), pgid: sh.pid, start_time: leaderStart };
      return { pid, record };
    };
    const inRunDir = await leftBehind(runDir, "r1");
    const elsewhere = await leftBehind(root, "r2");
    leaveRecords(root, "a", [inRunDir.record, elsewhere.record]);

    const opened = await openSlaveDir({ rootDir: root, name: "a", log });

    expect(opened.previous.killed).toEqual([inRunDir.pid]);
    expect(processAlive(inRunDir.pid)).toBe(false);
    // A leaderless group is no proof on its own: its id may have been reused for a stranger's since.
    expect(processAlive(elsewhere.pid)).toBe(true);
  }, 20_000);

  test("a recorded group whose id is now a live stranger's group is not leaderless: its members are spared even in the slave's directory", async () => {
    const root = await temps.make("dt-slave-dir-");
    const dir = join(root, slaveDirName("a"));
    mkdirSync(join(dir, "dt-run-old"), { recursive: true });
    // The recorded leader ended, and its pid now leads someone's group: an operator's shell that went to look at the run directory.
    const stranger = Bun.spawn(["sleep", "300"], { detached: true, cwd: join(dir, "dt-run-old"), stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    started.push(stranger);
    await waitUntil(() => readFileOr(`/proc/${stranger.pid}/cmdline`).startsWith("sleep"), `process ${stranger.pid} to exec sleep`, 15_000);
    leaveRecords(root, "a", [recordOf(stranger, "r1", readProcess(stranger.pid)!.startTime - 1)]);

    const opened = await openSlaveDir({ rootDir: root, name: "a", log });

    expect(opened.previous.killed).toEqual([]);
    expect(processAlive(stranger.pid)).toBe(true);
  }, 20_000);

  test("leaves a sibling sharing the root dir alone: its processes, records and run directories", async () => {
    const root = await temps.make("dt-slave-dir-");
    const mine = await startGroup({ [RUN_ID_ENV]: "mine" });
    const siblings = await startGroup({ [RUN_ID_ENV]: "theirs" });
    leaveRecords(root, "host-1", [recordOf(mine, "mine")]);
    const siblingDir = leaveRecords(root, "host-2", [recordOf(siblings, "theirs")]);
    mkdirSync(join(siblingDir, "dt-run-live"));

    await openSlaveDir({ rootDir: root, name: "host-1", log });

    await waitGone(mine.pid);
    expect(processAlive(siblings.pid)).toBe(true);
    expect(readdirSync(siblingDir).sort()).toEqual(["dt-run-live", "groups"]);
    expect(readdirSync(join(siblingDir, "groups"))).toEqual(["theirs.json"]);
  }, 20_000);

  test("records from another boot name no process of this one", async () => {
    const root = await temps.make("dt-slave-dir-");
    const child = await startGroup({ [RUN_ID_ENV]: "r1" });
    leaveRecords(root, "a", [{ ...recordOf(child, "r1"), boot_id: "another-boot" }]);
    const opened = await openSlaveDir({ rootDir: root, name: "a", log });
    expect(opened.previous.killed).toEqual([]);
    expect(processAlive(child.pid)).toBe(true);
  }, 20_000);

  test("refuses a directory owned by a live slave of the same name; takes one whose owner is gone or was another process", async () => {
    const root = await temps.make("dt-slave-dir-");
    const dir = join(root, slaveDirName("a"));
    mkdirSync(dir, { recursive: true });
    const live = await startGroup();
    const owner = (startTime: number) => writeFileSync(join(dir, "owner.json"), JSON.stringify({ pid: live.pid, start_time: startTime, boot_id: bootId() }));

    owner(readProcess(live.pid)!.startTime);
    mkdirSync(join(dir, "dt-run-busy"));
    const refused = await openSlaveDir({ rootDir: root, name: "a", log }).catch((err) => err);
    expect(isDtError(refused, "invalid_input")).toBe(true);
    expect(refused.message).toContain(`already runs on this host (pid ${live.pid})`);
    expect(refused.message).toContain("--name");
    // The live owner's work is untouched.
    expect(existsSync(join(dir, "dt-run-busy"))).toBe(true);

    owner(readProcess(live.pid)!.startTime + 1);
    await openSlaveDir({ rootDir: root, name: "a", log });
    expect(readdirSync(dir)).toEqual(["owner.json"]);
    expect(processAlive(live.pid)).toBe(true);
  }, 20_000);

  test("a record that is not one (cut short, hostile) is ignored and removed", async () => {
    const root = await temps.make("dt-slave-dir-");
    const child = await startGroup();
    const dir = leaveRecords(root, "a", []);
    writeFileSync(join(dir, "groups", "cut.json"), '{"run_id":"x","pg');
    // pgid 1 or 0 would make kill(-pgid) signal every process, or the slave's own group.
    writeFileSync(join(dir, "groups", "one.json"), JSON.stringify({ ...recordOf(child, "one"), pgid: 1 }));
    writeFileSync(join(dir, "groups", "zero.json"), JSON.stringify({ ...recordOf(child, "zero"), pgid: 0 }));
    const opened = await openSlaveDir({ rootDir: root, name: "a", log });
    expect(opened.previous.killed).toEqual([]);
    expect(processAlive(child.pid)).toBe(true);
    expect(readdirSync(dir)).toEqual(["owner.json"]);
  }, 20_000);
});

describe("openSlaveDir: hostile files where records are", () => {
  test("a FIFO in the place of a record or of owner.json does not block the start", async () => {
    const root = await temps.make("dt-slave-dir-");
    const dir = leaveRecords(root, "a", []);
    for (const fifo of [join(dir, "groups", "fifo.json"), join(dir, "owner.json")]) expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    // In a process of its own: a read of a FIFO with no writer blocks the whole process, and would hang this runner.
    const child = Bun.spawn([process.execPath, join(import.meta.dir, "open-slave-dir.ts"), root, "a"], { stdout: "pipe", stderr: "pipe" });
    started.push(child);
    const exit = await Promise.race([child.exited, Bun.sleep(15_000).then(() => "blocked")]);
    expect(exit).toBe(0);
    expect(JSON.parse(await new Response(child.stdout).text())).toEqual({ killed: [], survivors: [], removedDirs: 0 });
    expect(readdirSync(dir)).toEqual(["owner.json"]);
  }, 20_000);

  test("a record that is a symlink, or far bigger than any record, is not read; a symlink where owner.json is written is not written through", async () => {
    const root = await temps.make("dt-slave-dir-");
    const outside = await temps.make("dt-outside-");
    const viaLink = await startGroup();
    const huge = await startGroup();
    const dir = leaveRecords(root, "a", []);
    writeFileSync(join(outside, "planted.json"), JSON.stringify(recordOf(viaLink, "l1")));
    symlinkSync(join(outside, "planted.json"), join(dir, "groups", "l1.json"));
    // Valid JSON, padded: a record is a few hundred bytes, and a file of gigabytes would be read whole into memory.
    writeFileSync(join(dir, "groups", "h1.json"), JSON.stringify(recordOf(huge, "h1")) + " ".repeat(1 << 20));
    // owner.json is written beside, then renamed: a link planted under that name must not take the write elsewhere.
    writeFileSync(join(outside, "victim"), "untouched");
    symlinkSync(join(outside, "victim"), join(dir, "owner.json.tmp"));

    const opened = await openSlaveDir({ rootDir: root, name: "a", log });

    expect(opened.previous.killed).toEqual([]);
    expect(processAlive(viaLink.pid)).toBe(true);
    expect(processAlive(huge.pid)).toBe(true);
    expect(readdirSync(dir)).toEqual(["owner.json"]);
    expect(readFileSync(join(outside, "planted.json"), "utf8")).toContain("l1");
    expect(readFileSync(join(outside, "victim"), "utf8")).toBe("untouched");
  }, 20_000);
});

describe("openSlaveDir: what is never killed", () => {
  test("a slave started from inside a recorded group (a task that restarts its slave) kills the rest of it, not itself or its parent", async () => {
    const root = await temps.make("dt-slave-dir-");
    const out = await temps.make("dt-self-");
    // The shell leads the recorded group and carries the run id; it leaves a sleep, then starts the next life and waits for it.
    const script = `${Bun.which("sleep")} 300 & echo $! > "$OUT/sleep.pid"; while [ ! -e "$OUT/go" ]; do ${Bun.which("sleep")} 0.05; done; "$0" "$@" > "$OUT/previous.json"; echo $? > "$OUT/status"`;
    const sh = Bun.spawn(["sh", "-c", script, process.execPath, join(import.meta.dir, "open-slave-dir.ts"), root, "a"], {
      detached: true, stdin: "ignore", stdout: "ignore", stderr: "ignore", env: { ...process.env, OUT: out, [RUN_ID_ENV]: "r1" },
    });
    started.push(sh);
    await waitUntil(() => existsSync(join(out, "sleep.pid")) && readFileSync(join(out, "sleep.pid"), "utf8").endsWith("\n"), "the group's sleep to start", 15_000);
    const sleepPid = Number(readFileSync(join(out, "sleep.pid"), "utf8"));
    started.push({ pid: sleepPid });
    leaveRecords(root, "a", [recordOf(sh, "r1")]);
    writeFileSync(join(out, "go"), "");

    await Promise.race([sh.exited, Bun.sleep(15_000)]);
    // Killing its own group would have ended the next life, and the shell, before either wrote a word.
    expect(readFileOr(join(out, "status"))).toBe("0\n");
    expect(JSON.parse(readFileOr(join(out, "previous.json"))).killed).toEqual([sleepPid]);
    expect(processAlive(sleepPid)).toBe(false);
  }, 20_000);
});

describe("openSlaveDir: removing the previous life's directories", () => {
  test("a symlink in the slave's directory is removed, not followed: what it points to keeps its files and modes", async () => {
    const root = await temps.make("dt-slave-dir-");
    const outside = await temps.make("dt-outside-");
    mkdirSync(join(outside, "inner"), { mode: 0o700 });
    writeFileSync(join(outside, "inner", "keep"), "mine");
    chmodSync(outside, 0o700);
    const dir = leaveRecords(root, "a", []);
    symlinkSync(outside, join(dir, "dt-run-link"));
    symlinkSync(join(outside, "inner", "keep"), join(dir, "file-link"));

    await openSlaveDir({ rootDir: root, name: "a", log });

    expect(readdirSync(dir)).toEqual(["owner.json"]);
    expect(readFileSync(join(outside, "inner", "keep"), "utf8")).toBe("mine");
    // Following the link would have made them 0755, readable by every user.
    expect(statSync(outside).mode & 0o777).toBe(0o700);
    expect(statSync(join(outside, "inner")).mode & 0o777).toBe(0o700);
  }, 20_000);
});

describe("slaveDirName", () => {
  test("a plain name as is; any other spelled safely and kept apart by a hash", () => {
    expect(slaveDirName("host-1")).toBe("slave-host-1");
    expect(slaveDirName("a/b")).toMatch(/^slave-a_b-[0-9a-f]{8}$/);
    expect(slaveDirName("a/b")).not.toBe(slaveDirName("a_b"));
    expect(slaveDirName("a:b")).not.toBe(slaveDirName("a/b"));
    // Behind the prefix, "." and ".." are plain names, not the directory or its parent.
    expect(slaveDirName("..")).toBe("slave-..");
  });
});

describe("selfAndAncestors", () => {
  test("holds this process, its parent and init, which a slave never kills", () => {
    const spared = selfAndAncestors();
    expect(spared.has(process.pid)).toBe(true);
    expect(spared.has(process.ppid)).toBe(true);
    expect(spared.has(1)).toBe(true);
  });
});

describe("parseStat", () => {
  test("counts fields from the last parenthesis, as a command name may hold spaces and parentheses", () => {
    const fields = "S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 10000 200";
    expect(parseStat(`4243 (we(ird) na)me) ${fields}`)).toEqual({ pid: 4243, ppid: 1, pgid: 4242, sid: 4242, startTime: 987654, state: "S" });
    expect(parseStat("")).toBeNull();
    expect(parseStat("12 (x) S 1")).toBeNull();
  });
});

import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { slaveDirName } from "../../src/slave/slave-dir.ts";
import { cliEnv } from "../helpers/cli.ts";
import { shellScript } from "../helpers/tree.ts";
import { processAlive, waitUntil } from "../helpers/wait.ts";
import { resultOf, useSlaveSetup, withDeadline } from "./harness.ts";

const setup = useSlaveSetup();

const RUN_SLAVE = join(import.meta.dir, "run-slave.ts");
/** A slave's start (bun, then its first request) and a task's fetch and spawn, on a loaded 2-core machine. */
const START_MS = 20_000;

/**
 * A task that leaves work behind: 8 `sleep 300 &` in its group, one with
 * its environment cleared (found only through its group), one that left
 * the session with setsid (found only through its environment). Writes the
 * pids to <name>.pids, then touches <name>.started, then runs `main`.
 */
function leavesWork(name: string, main: string): string {
  return `
pids="$PID_DIR/${name}.pids"
echo $$ > "$pids"
for i in 1 2 3 4 5 6 7 8; do sleep 300 & echo $! >> "$pids"; done
env -i "$SLEEP" 300 & echo $! >> "$pids"
setsid "$SLEEP" 300 & echo $! >> "$pids"
touch "$PID_DIR/${name}.started"
${main}
`;
}

function pidsOf(pidDir: string, name: string): number[] {
  return readFileSync(join(pidDir, `${name}.pids`), "utf8").trim().split("\n").map(Number);
}

describe("a SIGKILLed slave, restarted", () => {
  test("ends the processes its previous life left, removes its run and log directories, then takes work; a sibling sharing the cache keeps its own", async () => {
    const s = await setup();
    const pidDir = join(s.dir, "pids");
    await mkdir(pidDir);
    const sleep = Bun.which("sleep")!;
    const env = { PID_DIR: pidDir, SLEEP: sleep };
    const busy = await s.archive({ "t.sh": shellScript(leavesWork("busy", "while :; do :; done")) }, { command: ["./t.sh"] });
    const quitter = await s.archive({ "t.sh": shellScript(leavesWork("quitter", 'while [ ! -e "$PID_DIR/quit" ]; do sleep 0.05; done')) }, { command: ["./t.sh"] });
    const sibling = await s.archive({ "t.sh": shellScript(leavesWork("sibling", 'while [ ! -e "$PID_DIR/sibling-go" ]; do sleep 0.05; done; echo sibling done')) }, { command: ["./t.sh"] });
    const simple = await s.archive({ "t.sh": shellScript("echo after the restart") }, { command: ["./t.sh"] });
    const rootDir = join(s.dir, "runs");
    const slaves: Subprocess[] = [];
    const startSlave = (name: string, slots: number) => {
      const child = Bun.spawn(
        [process.execPath, RUN_SLAVE, "--master", s.master.url, "--slots", String(slots), "--name", name,
          "--cache-dir", join(s.dir, "cache"), "--root-dir", rootDir, "--drain-timeout", "30s"],
        { env: cliEnv(join(s.dir, "home")), stdin: "ignore", stdout: "ignore", stderr: "ignore" },
      );
      slaves.push(child);
      return child;
    };
    const started = (name: string) => waitUntil(() => existsSync(join(pidDir, `${name}.started`)), `task ${name} to start`, START_MS);
    try {
      // The sibling first, with one slot: once its task runs it asks for no more, so the next leases go to the other slave.
      startSlave("sibling", 1);
      const [siblingLease] = s.master.push({ isolate_hash: sibling, env });
      await started("sibling");
      const victim = startSlave("victim", 2);
      s.master.push({ isolate_hash: busy, env }, { isolate_hash: quitter, env });
      await started("busy");
      await started("quitter");
      const left = [...pidsOf(pidDir, "busy"), ...pidsOf(pidDir, "quitter")];
      const siblingPids = pidsOf(pidDir, "sibling");
      const victimDir = join(rootDir, slaveDirName("victim"));
      const siblingDir = join(rootDir, slaveDirName("sibling"));
      const siblingEntries = readdirSync(siblingDir).sort();
      expect(readdirSync(victimDir).filter((e) => e.startsWith("dt-run-")).length).toBe(2);

      victim.kill("SIGKILL");
      await withDeadline(victim.exited, 10_000, "the killed slave to exit");
      // The defect: its commands and what they started run on.
      for (const pid of left) expect(processAlive(pid)).toBe(true);
      // One command ends on its own after the crash; what it started stays, with no group leader to find it by.
      const quitterLeader = pidsOf(pidDir, "quitter")[0]!;
      await writeFile(join(pidDir, "quit"), "");
      await waitUntil(() => !processAlive(quitterLeader), "the quitting task's shell to exit", 10_000);
      for (const pid of left.filter((p) => p !== quitterLeader)) expect(processAlive(pid)).toBe(true);

      const requestsBefore = s.master.leaseRequests.length;
      startSlave("victim", 2);
      // Its first request for work comes after the cleanup: by then nothing of the previous life may be left.
      await waitUntil(() => s.master.leaseRequests.slice(requestsBefore).some((r) => r.slave.name === "victim"), "the restarted slave to ask for work", START_MS);
      expect(left.filter((pid) => processAlive(pid))).toEqual([]);
      expect(readdirSync(victimDir)).toEqual(["owner.json"]);
      // The sibling's task, processes and directories are untouched.
      for (const pid of siblingPids) expect(processAlive(pid)).toBe(true);
      expect(readdirSync(siblingDir).sort()).toEqual(siblingEntries);

      const [after] = s.master.push({ isolate_hash: simple, env });
      expect(await resultOf(s.master, after!.lease_id, START_MS)).toMatchObject({ state: "SUCCEEDED", exit_code: 0 });
      expect(s.master.log(after!.lease_id, "stdout")).toBe("after the restart\n");
      await writeFile(join(pidDir, "sibling-go"), "");
      expect(await resultOf(s.master, siblingLease!.lease_id, START_MS)).toMatchObject({ state: "SUCCEEDED", exit_code: 0 });
    } finally {
      for (const child of slaves) child.kill("SIGKILL");
      await writeFile(join(pidDir, "sibling-go"), "");
      killLeftovers(pidDir);
    }
  }, 90_000);
});

/** Kills what the test's tasks started and may have left if the test failed half-way: pids that are still a `sleep` or a `sh`. */
function killLeftovers(pidDir: string): void {
  for (const file of readdirSync(pidDir).filter((f) => f.endsWith(".pids"))) {
    for (const pid of readFileSync(join(pidDir, file), "utf8").trim().split("\n").map(Number)) {
      if (!Number.isInteger(pid) || pid <= 1 || !processAlive(pid)) continue;
      let command = "";
      try {
        command = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        continue;
      }
      if (!/sleep|sh/.test(command)) continue;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
  }
}

/**
 * The units' exact ExecStart lines, run as systemd would run them (see
 * unit-file.ts), against temp dirs standing in for /var/lib, /var/cache and
 * /etc/dt: dt-master.service and two instances of dt-slave@.service sharing
 * one cache. A stop is what KillMode=mixed does: SIGTERM to the main process
 * only. A slave stopped while its task runs takes no more work, lets the
 * task finish and report, and exits 0 well within TimeoutStopSec.
 */
import { afterEach, expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { parseDuration } from "../../src/common/units.ts";
import type { TaskView } from "../../src/master/protocol.ts";
import { renderUnits } from "../../src/service/units.ts";
import { shellScript } from "../helpers/tree.ts";
import { type Cluster, E2E_TEST_TIMEOUT_MS, pollUntil, taskNamed, useCluster } from "../e2e/cluster.ts";
import { DtProcess, RECORD_PID, START_DEADLINE_MS, recordedPid } from "../e2e/processes.ts";
import { type HostSimulation, type ParsedUnit, execStart, parseUnit, single } from "./unit-file.ts";

const REPO = join(import.meta.dir, "..", "..");
const HOST = hostname();

const setup = useCluster("dt-units-");
const unitProcesses: DtProcess[] = [];
afterEach(() => {
  for (const p of unitProcesses.splice(0)) p.killGroup("SIGKILL");
});

/** Starts what the unit's ExecStart would exec, in / as systemd does, in its own process group. */
function startUnit(name: string, unit: ParsedUnit, host: HostSimulation): { process: DtProcess; argv: string[] } {
  const { argv, env } = execStart(unit, host);
  const proc = Bun.spawn(argv, { cwd: "/", env, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
  const child = new DtProcess(name, proc);
  unitProcesses.push(child);
  return { process: child, argv };
}

/** The environment files of this test's host, by the paths the units name. */
function envFiles(masterUrl = ""): Record<string, string> {
  return {
    // Port 0 and loopback: a test must not take 8081 or listen on the machine's network.
    "/etc/dt/master.env": 'DT_MASTER_ARGS="--port 0 --host 127.0.0.1 --lease-ttl 3s --heartbeat-interval 1s"\n',
    "/etc/dt/slave.env": `# every slave on this host\nDT_SLAVE_ARGS=--master ${masterUrl} --slots 1\n`,
    // Per instance: the dimension lets the test send a task to one instance.
    "/etc/dt/slave-1.env": "DT_SLAVE_INSTANCE_ARGS=--dimensions instance=one\n",
    "/etc/dt/slave-2.env": "DT_SLAVE_INSTANCE_ARGS=--dimensions instance=two\n",
  };
}

async function waitForSlave(c: Cluster, name: string, slave: DtProcess): Promise<void> {
  await pollUntil(
    async () => {
      if (!slave.running) throw new Error(`${slave.name} exited early; its output:\n${slave.output}`);
      const { slaves } = await c.api.get<{ slaves: { name: string; state: string }[] }>("/api/v1/slaves");
      return slaves.some((s) => s.name === name && s.state !== "lost");
    },
    `slave ${name} to register with the master`,
    START_DEADLINE_MS,
  );
}

test("dt-master and two dt-slave@ instances run from their ExecStart lines; a stopped slave drains its running task, which succeeds", async () => {
  const c = await setup();
  // --binary: a wrapper that execs dt from source, so that the unit's main PID is dt itself.
  const binary = join(c.dir, "dt");
  writeFileSync(binary, `#!/bin/sh\nexec '${process.execPath}' '${join(REPO, "src", "main.ts")}' "$@"\n`);
  chmodSync(binary, 0o755);
  const config = join(c.dir, "dt.cnf");
  writeFileSync(config, "[dist_test]\n");
  const units = new Map(renderUnits({ user: "dt", config, binary }).map((u) => [u.name, parseUnit(u.text)]));
  const cacheRoot = join(c.dir, "var", "cache");
  const host = (unit: string, instance = "", masterUrl = ""): HostSimulation => ({
    specifiers: { H: HOST, i: instance, I: instance, n: unit.replace("@.", `@${instance}.`), p: unit.replace(/@?\.service$/, "") },
    // What systemd gives the service, and the cluster's PID_DIR for the task scripts; not the clients' DIST_TEST_MASTER.
    baseEnv: { PATH: c.env.PATH!, HOME: c.env.HOME!, USER: "dt", PID_DIR: c.pidDir },
    stateRoot: join(c.dir, "var", "lib"),
    cacheRoot,
    envFiles: envFiles(masterUrl),
  });

  const master = startUnit("dt-master", units.get("dt-master.service")!, host("dt-master.service"));
  expect(master.argv.slice(1)).toEqual(["master", "--data-dir", join(c.dir, "var", "lib", "dt", "master"), "--port", "0", "--host", "127.0.0.1", "--lease-ttl", "3s", "--heartbeat-interval", "1s"]);
  const url = (await master.process.waitForOutput(/master listening on (http:\/\/127\.0\.0\.1:\d+)/, "its listening line"))[1]!;
  c.master = Object.assign(master.process, { url, port: Number(new URL(url).port) });
  c.env.DIST_TEST_MASTER = url;

  const slaveUnit = units.get("dt-slave@.service")!;
  const slaves = ["1", "2"].map((i) => ({ name: `${HOST}-${i}`, ...startUnit(`dt-slave@${i}`, slaveUnit, host("dt-slave@.service", i, url)) }));
  expect(slaves[0]!.argv.slice(1)).toEqual([
    "slave", "--name", `${HOST}-1`, "--cache-dir", join(cacheRoot, "dt", "slaves", "isolate"), "--root-dir", join(cacheRoot, "dt", "slaves", "runs", "1"),
    "--drain-timeout", "10m", "--master", url, "--slots", "1", "--dimensions", "instance=one",
  ]);
  await Promise.all(slaves.map((s) => waitForSlave(c, s.name, s.process)));
  const [first, second] = slaves as [(typeof slaves)[0], (typeof slaves)[0]];

  // The task runs until the test creates $GO: long enough to be running when its slave is stopped, and no longer.
  const go = join(c.dir, "go");
  const hash = await c.archive(
    { "task.sh": shellScript(`${RECORD_PID}\npwd > "$PID_DIR/$DT_TASK_ID.cwd"\necho started\nwhile [ ! -e "$GO" ]; do sleep 0.05; done\necho finished`) },
    ["./task.sh"],
  );
  const drainedJob = await c.submitNoWait([{ isolate_hash: hash, description: "drained", env: { GO: go }, dimensions: { instance: "one" } }]);
  const [drained] = await c.api.waitTasks(drainedJob, "the task to run on the first slave", (tasks) => tasks[0]!.attempts[0]?.state === "RUNNING");
  await recordedPid(c.pidDir, drained!.task_id, 0);
  // Run directories beside the shared cache, per instance: files are hardlinked from the cache.
  expect(readFileSync(join(c.pidDir, `${drained!.task_id}.cwd`), "utf8")).toStartWith(join(cacheRoot, "dt", "slaves", "runs", "1"));

  // KillMode=mixed: systemctl stop sends SIGTERM to the main process only.
  const stopMs = parseDuration(single(slaveUnit, "Service.TimeoutStopSec"), "TimeoutStopSec");
  const stoppedAt = performance.now();
  process.kill(first.process.pid, "SIGTERM");
  await first.process.waitForOutput(/draining: 1 attempts running/, "the drain to begin");
  // It takes no more work: a task any slave may run goes to the second, which finds the blobs in the shared cache.
  const laterJob = await c.submitNoWait([{ isolate_hash: hash, description: "later", env: { GO: go } }]);
  await c.api.waitTasks(laterJob, "the later task to run", (tasks) => tasks[0]!.attempts[0]?.state === "RUNNING");
  writeFileSync(go, "");

  expect(await first.process.waitExit(20_000)).toBe(0);
  expect(performance.now() - stoppedAt).toBeLessThan(stopMs);
  expect(first.process.output).toContain(`slave ${first.name} drained; exiting`);
  const finished = async (jobId: string, description: string): Promise<TaskView> => {
    await c.api.waitFinished(jobId, 20_000);
    return taskNamed(await c.api.tasks(jobId), description);
  };
  const drainedTask = await finished(drainedJob, "drained");
  expect(drainedTask.attempts.map((a) => [a.state, a.slave])).toEqual([["SUCCEEDED", first.name]]);
  const laterTask = await finished(laterJob, "later");
  expect(laterTask.attempts.map((a) => [a.state, a.slave])).toEqual([["SUCCEEDED", second.name]]);
  expect(laterTask.attempts[0]!.cache).toMatchObject({ itemsCold: 0 });

  // The idle slave and the master stop as cleanly.
  process.kill(second.process.pid, "SIGTERM");
  expect(await second.process.waitExit(10_000)).toBe(0);
  process.kill(master.process.pid, "SIGTERM");
  expect(await master.process.waitExit(parseDuration(single(units.get("dt-master.service")!, "Service.TimeoutStopSec"), "TimeoutStopSec"))).toBe(0);
}, E2E_TEST_TIMEOUT_MS);

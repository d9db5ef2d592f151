import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "citty";
import systemdUnits, { formatUnits } from "../../src/commands/systemd-units.ts";
import { DtError } from "../../src/common/errors.ts";
import { parseDuration } from "../../src/common/units.ts";
import { DEFAULT_UNIT_OPTIONS, renderUnits } from "../../src/service/units.ts";
import { TempDirs } from "../helpers/temp.ts";
import { parseUnit, single } from "./unit-file.ts";

const SHIPPED = join(import.meta.dir, "..", "..", "systemd");
/** A task still running when the drain ends gets SIGTERM, then SIGKILL after this (dt slave's grace period). */
const TASK_KILL_GRACE_MS = 5_000;

const temps = new TempDirs();
afterEach(() => temps.cleanup());

/** Runs `dt systemd-units args...` in process; returns what it printed. */
async function systemdUnitsOutput(args: string[]): Promise<string> {
  let out = "";
  const write = spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await runCommand(systemdUnits, { rawArgs: args });
  } finally {
    write.mockRestore();
  }
  return out;
}

/** A systemd time span (`11min`, `30s`) in ms; dt's durations read the same units. */
function timeSpanMs(text: string): number {
  return parseDuration(text, "time span");
}

describe("dt systemd-units", () => {
  test("the units in systemd/ are what it writes with default flags", () => {
    const units = renderUnits(DEFAULT_UNIT_OPTIONS);
    const regenerate = "regenerate them with: bun src/main.ts systemd-units --output systemd";
    expect(readdirSync(SHIPPED).sort(), `systemd/ holds other files than dt systemd-units writes; ${regenerate}`).toEqual(units.map((u) => u.name).sort());
    for (const unit of units) {
      expect(readFileSync(join(SHIPPED, unit.name), "utf8"), `systemd/${unit.name} differs from dt systemd-units; ${regenerate}`).toBe(unit.text);
    }
  });

  test("prints every unit after a `# <file name>` line; --output writes one file per unit and says so", async () => {
    const printed = await systemdUnitsOutput(["--user", "ci", "--config", "/srv/dt.cnf", "--binary", "/opt/dt/bin/dt"]);
    const units = renderUnits({ user: "ci", config: "/srv/dt.cnf", binary: "/opt/dt/bin/dt" });
    expect(printed).toBe(formatUnits(units));
    expect(printed.split("\n").filter((l) => /^# dt-[\w@-]+\.service$/.test(l))).toEqual(["# dt-master.service", "# dt-isolate-server.service", "# dt-slave@.service"]);

    const dir = await temps.make("dt-units-");
    const wrote = await systemdUnitsOutput(["--output", dir, "--user", "ci", "--config", "/srv/dt.cnf", "--binary", "/opt/dt/bin/dt"]);
    expect(wrote).toBe(units.map((u) => `wrote ${join(dir, u.name)}\n`).join(""));
    for (const unit of units) expect(readFileSync(join(dir, unit.name), "utf8")).toBe(unit.text);
  });

  test("the flags land where systemd reads them", () => {
    for (const { name, text } of renderUnits({ user: "ci", config: "/srv/dt.cnf", binary: "/opt/dt/bin/dt" })) {
      const unit = parseUnit(text);
      expect(single(unit, "Service.User"), name).toBe("ci");
      expect(single(unit, "Service.Environment"), name).toBe("DIST_TEST_CNF=/srv/dt.cnf");
      expect(single(unit, "Service.ExecStart").split(" ")[0], name).toBe("/opt/dt/bin/dt");
      expect(single(unit, "Service.Restart"), name).toBe("on-failure");
      // Bun's JIT, and the tests' JITs, need memory that is writable and executable.
      expect(unit.has("Service.MemoryDenyWriteExecute"), name).toBe(false);
    }
  });

  test("the servers reload on SIGHUP and write only their state directory; slaves have no reload", () => {
    const units = new Map(renderUnits(DEFAULT_UNIT_OPTIONS).map((u) => [u.name, parseUnit(u.text)]));
    for (const name of ["dt-master.service", "dt-isolate-server.service"]) {
      const unit = units.get(name)!;
      expect(single(unit, "Service.ExecReload")).toBe("/bin/kill -HUP $MAINPID");
      expect(single(unit, "Service.ProtectSystem")).toBe("strict");
      expect(single(unit, "Service.ExecStart")).toContain("--data-dir ${STATE_DIRECTORY}");
    }
    expect(units.get("dt-slave@.service")!.has("Service.ExecReload")).toBe(false);
  });

  test("a slave's stop waits out its drain: TimeoutStopSec is above --drain-timeout plus the tasks' kill grace", () => {
    const slave = parseUnit(renderUnits(DEFAULT_UNIT_OPTIONS).find((u) => u.name === "dt-slave@.service")!.text);
    expect(single(slave, "Service.KillMode")).toBe("mixed");
    const drain = /--drain-timeout (\S+)/.exec(single(slave, "Service.ExecStart"))?.[1];
    expect(drain).toBe("10m");
    const stopMs = timeSpanMs(single(slave, "Service.TimeoutStopSec"));
    // At least half a minute on top to upload the killed tasks' logs and report them.
    expect(stopMs - timeSpanMs(drain!) - TASK_KILL_GRACE_MS).toBeGreaterThanOrEqual(30_000);
    // One cache for every instance, run directories per instance beside it, one name per instance.
    expect(single(slave, "Service.ExecStart")).toContain("--name %H-%i --cache-dir ${CACHE_DIRECTORY}/isolate --root-dir ${CACHE_DIRECTORY}/runs/%i");
    expect(slave.get("Service.EnvironmentFile")).toEqual(["-/etc/dt/slave.env", "-/etc/dt/slave-%i.env"]);
  });

  test("a value systemd would read as something else is refused, naming the flag", () => {
    const bad = [
      { user: "Root User" },
      { config: "etc/dt.cnf" },
      { config: "/etc/dt/my dt.cnf" },
      { binary: "/opt/%i/dt" },
      { binary: "/opt/$HOME/dt" },
      { binary: "/opt/../bin/dt" },
    ];
    for (const override of bad) {
      const flag = `--${Object.keys(override)[0]}`;
      let error: unknown;
      try {
        renderUnits({ ...DEFAULT_UNIT_OPTIONS, ...override });
      } catch (err) {
        error = err;
      }
      expect(error, JSON.stringify(override)).toBeInstanceOf(DtError);
      expect((error as DtError).code).toBe("invalid_input");
      expect((error as DtError).message.startsWith(`${flag}: `)).toBe(true);
    }
  });
});

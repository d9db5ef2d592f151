/**
 * systemd's own reading of the units: `systemd-analyze verify` loads each
 * one as systemd would (directives, specifiers, that ExecStart's binary is
 * executable). It needs no running systemd. The template is verified as an
 * instance, dt-slave@1.service, which systemd loads from dt-slave@.service.
 */
import { afterEach, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_UNIT_OPTIONS, renderUnits } from "../../src/service/units.ts";
import { TempDirs } from "../helpers/temp.ts";

const SYSTEMD_ANALYZE = Bun.which("systemd-analyze");
const temps = new TempDirs();
afterEach(() => temps.cleanup());

const why = SYSTEMD_ANALYZE ? "" : " (skipped: systemd-analyze is not installed; scripts/services/systemd-tools.sh installs it)";

test.skipIf(!SYSTEMD_ANALYZE)(`systemd-analyze verify passes every unit without a warning${why}`, async () => {
  const dir = await temps.make("dt-verify-");
  // verify checks that ExecStart's binary exists and is executable; /usr/local/bin/dt is not on this machine.
  const binary = join(dir, "dt");
  writeFileSync(binary, "#!/bin/sh\nexec true\n");
  chmodSync(binary, 0o755);
  for (const unit of renderUnits({ ...DEFAULT_UNIT_OPTIONS, binary })) writeFileSync(join(dir, unit.name), unit.text);

  for (const name of ["dt-master.service", "dt-isolate-server.service", "dt-slave@1.service"]) {
    const child = Bun.spawn([SYSTEMD_ANALYZE!, "verify", join(dir, name)], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    // Warnings (an unknown key, a value it cannot parse) go to stderr with exit 0: any line about our units fails the test.
    // Lines about other units on this machine (its own broken units) are not ours to judge.
    const ours = `${stdout}${stderr}`.split("\n").filter((line) => line.includes(dir) || /\bdt-[\w@-]*\.service\b/.test(line));
    expect({ name, code, ours }).toEqual({ name, code: 0, ours: [] });
  }
}, 20_000);

import { defineCommand } from "citty";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { DEFAULT_UNIT_OPTIONS, type UnitFile, renderUnits } from "../service/units.ts";

/**
 * Prints the systemd units of a dt host (or writes them into a directory,
 * e.g. /etc/systemd/system): dt-master.service, dt-isolate-server.service
 * and the template dt-slave@.service. With the defaults they are the files
 * in the repo's systemd/.
 */
export default defineCommand({
  meta: { name: "systemd-units", description: "Print the systemd units for dt master, dt isolate-server and dt slave (the template dt-slave@.service), or write them with --output" },
  args: {
    user: { type: "string", description: "Account the services run as", default: DEFAULT_UNIT_OPTIONS.user },
    config: { type: "string", description: "dt's INI config file, given to the services as DIST_TEST_CNF", default: DEFAULT_UNIT_OPTIONS.config },
    binary: { type: "string", description: "Absolute path of the dt executable on the host", default: DEFAULT_UNIT_OPTIONS.binary },
    output: { type: "string", description: "Write one file per unit into this directory (e.g. /etc/systemd/system) instead of printing them" },
  },
  async run({ args }) {
    const units = renderUnits({ user: args.user, config: args.config, binary: args.binary });
    if (args.output === undefined) {
      process.stdout.write(formatUnits(units));
      return;
    }
    const dir = resolve(args.output);
    await mkdir(dir, { recursive: true });
    for (const unit of units) {
      const path = join(dir, unit.name);
      // 0644, as systemd's own units: readable by all, so `systemctl cat` works for everyone.
      await writeFile(path, unit.text, { mode: 0o644 });
      process.stdout.write(`wrote ${path}\n`);
    }
  },
});

/** All units on one stream, each after a `# <file name>` line. */
export function formatUnits(units: readonly UnitFile[]): string {
  return units.map((u) => `# ${u.name}\n${u.text}`).join("\n");
}

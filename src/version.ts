/**
 * The version and the git commit the binary was built from. `bun run build`
 * defines DT_BUILD_COMMIT; from source it is read from git when asked.
 */
import pkg from "../package.json" with { type: "json" };

declare const DT_BUILD_COMMIT: string | undefined;

export const VERSION: string = pkg.version;

export function buildCommit(): string {
  if (typeof DT_BUILD_COMMIT === "string") return DT_BUILD_COMMIT;
  try {
    const git = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: import.meta.dir, stderr: "ignore" });
    return `${git.exitCode === 0 ? git.stdout.toString().trim() : "unknown"} (source)`;
  } catch {
    // No git, or no source directory (a binary built without scripts/build.ts).
    return "unknown";
  }
}

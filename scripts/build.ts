/**
 * `bun run build`: compiles dt into one executable, dist/dt, stamped with
 * the git commit it was built from. The hash worker is a second entry point
 * so that `new Worker(...)` finds it inside the binary.
 *
 * --bytecode precompiles the JavaScript: start-up of `dt --version` drops
 * from about 54 ms to 20 ms (bench/startup.ts), and it works with --format=esm.
 * --splitting makes each lazily imported module (a command, the AWS SDK) a
 * chunk of its own inside the binary, loaded on use: without it every start
 * loads all of them, and `dt --version` took 24 ms instead of 18.
 */
import { $ } from "bun";

const root = new URL("..", import.meta.url).pathname;
const commit = (await $`git rev-parse --short=12 HEAD`.cwd(root).nothrow().quiet()).stdout.toString().trim() || "unknown";
const dirty = (await $`git status --porcelain --untracked-files=no`.cwd(root).nothrow().quiet()).stdout.toString().trim() !== "";
const stamp = `${commit}${dirty ? "-dirty" : ""}`;
const bytecode = !process.argv.includes("--no-bytecode");

const flags = ["--compile", "--splitting", "--format=esm", "--minify-syntax", "--minify-whitespace", ...(bytecode ? ["--bytecode"] : [])];
await $`bun build ${flags} --define DT_BUILD_COMMIT=${JSON.stringify(stamp)} src/main.ts src/isolate/archive/hash-worker.ts --outfile dist/dt`.cwd(root);
console.log(`built dist/dt (${stamp}${bytecode ? ", bytecode" : ""})`);

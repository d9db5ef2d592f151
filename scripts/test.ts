/**
 * `bun run test`: runs the whole suite with `bun test` and ends with the
 * line CI reads, `N passed, N failed` (plus skipped), exiting non-zero on any
 * failure or when no test ran. Arguments are passed on to `bun test`.
 */
/** Per test: integration tests start servers and child processes on a loaded 2-core machine. */
const TEST_TIMEOUT_MS = 30_000;

const child = Bun.spawn(["bun", "test", "--timeout", String(TEST_TIMEOUT_MS), ...process.argv.slice(2)], {
  cwd: new URL("..", import.meta.url).pathname,
  stdout: "inherit",
  stderr: "pipe",
  stdin: "ignore",
});

// bun test writes its report to stderr: pass it through and keep the tail for the counts.
let tail = "";
for await (const chunk of child.stderr) {
  process.stderr.write(chunk);
  tail = (tail + new TextDecoder().decode(chunk)).slice(-8192);
}
const code = await child.exited;
const count = (word: string) => Number(new RegExp(`^\\s*(\\d+) ${word}\\b`, "m").exec(tail)?.[1] ?? 0);
const passed = count("pass");
const failed = count("fail");
const skipped = count("skip");
const ok = code === 0 && failed === 0 && passed > 0;
console.log(`${passed} passed, ${failed === 0 && code !== 0 ? 1 : failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(ok ? 0 : 1);

/**
 * Runs s3rver (an S3-compatible server for tests) in its own process:
 * `bun test/helpers/s3rver-main.ts DIR PORT`. PORT 0 picks a free one; the
 * first line printed is `listening PORT`. SIGTERM closes it.
 */
const [directory, port] = process.argv.slice(2);
if (!directory || port === undefined) throw new Error("usage: s3rver-main.ts DIR PORT");
// s3rver ships no types; its constructor options are documented in its README.
const { default: S3rver } = (await import("s3rver" as string)) as { default: new (options: object) => { run(): Promise<{ port: number }>; close(): Promise<void> } };
const server = new S3rver({ address: "127.0.0.1", port: Number(port), directory, silent: true });
const address = await server.run();
console.log(`listening ${address.port}`);
process.once("SIGTERM", () => {
  server.close().finally(() => process.exit(0));
});
export {};

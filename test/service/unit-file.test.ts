/** The systemd stand-in of exec-start.test.ts: it must expand as systemd does, and refuse what it does not model. */
import { afterEach, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../helpers/temp.ts";
import { type HostSimulation, execStart, expandSpecifiers, parseUnit } from "./unit-file.ts";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

async function host(overrides: Partial<HostSimulation> = {}): Promise<HostSimulation> {
  const dir = await temps.make("dt-unit-file-");
  return { specifiers: { i: "7", H: "box" }, baseEnv: { WORDS: "x  y" }, stateRoot: join(dir, "lib"), cacheRoot: join(dir, "cache"), envFiles: {}, ...overrides };
}

test("ExecStart: quotes, ${VAR} in place, $VAR split into words (none when unset), $$; specifiers first", async () => {
  const h = await host();
  const unit = parseUnit("[Service]\nExecStart=/bin/a \"b c\" 'd' ${WORDS}/e $WORDS $UNSET --n %H-%i 100%% $$HOME\n");
  expect(execStart(unit, h).argv).toEqual(["/bin/a", "b c", "d", "x  y/e", "x", "y", "--n", "box-7", "100%", "$HOME"]);
});

test("directories are made and named as systemd does; Environment= and then the env files in order, optional ones skipped", async () => {
  const h = await host({ envFiles: { "/etc/a.env": "# comment\nA=1\nB=\"two words\"\n", "/etc/b-7.env": "A=3\n" } });
  const unit = parseUnit("[Service]\nStateDirectory=dt/m\nEnvironment=A=0 C=c\nEnvironmentFile=-/etc/a.env\nEnvironmentFile=-/etc/b-%i.env\nEnvironmentFile=-/etc/none.env\nExecStart=/bin/a ${STATE_DIRECTORY}\n");
  const { argv, env } = execStart(unit, h);
  expect(argv).toEqual(["/bin/a", join(h.stateRoot, "dt", "m")]);
  expect(existsSync(join(h.stateRoot, "dt", "m"))).toBe(true);
  expect(env).toMatchObject({ A: "3", B: "two words", C: "c", STATE_DIRECTORY: join(h.stateRoot, "dt", "m") });
  expect(() => execStart(parseUnit("[Service]\nEnvironmentFile=/etc/none.env\nExecStart=/bin/a\n"), h)).toThrow("does not exist and is not optional");
});

test("what it does not model is refused, not guessed", async () => {
  const h = await host();
  const refused = (line: string) => () => execStart(parseUnit(`[Service]\nExecStart=${line}\n`), h);
  expect(refused('/bin/a x"b"')).toThrow("quote inside a word");
  expect(refused('/bin/a "b"x')).toThrow("quote inside a word");
  expect(refused("/bin/a x\\ y")).toThrow("backslash");
  expect(refused("/bin/a x$WORDS")).toThrow("would not expand");
  expect(refused("-/bin/a")).toThrow("prefixes");
  expect(() => expandSpecifiers("%n", {})).toThrow("specifier %n");
});

import type { Hono } from "hono";
import { ManualClock } from "../../src/common/clock.ts";
import { createLogger } from "../../src/common/log.ts";
import { FsArtifactStore } from "../../src/master/artifacts/fs-artifact-store.ts";
import { LiveLogs } from "../../src/master/artifacts/live-logs.ts";
import { distTestRoutes } from "../../src/master/http/dist-test-api.ts";
import { masterApp } from "../../src/master/http/app.ts";
import { Master } from "../../src/master/master.ts";
import type { OutputsReader } from "../../src/master/outputs-reader.ts";
import type { ReportedState } from "../../src/master/model.ts";
import { type Lease, outputKey } from "../../src/master/protocol.ts";
import { SqliteRepo } from "../../src/master/repo/sqlite.ts";
import { TempDirs } from "../helpers/temp.ts";

/** A master on an in-memory SQLite repo and a temp dir, with the app that serves dist_test's API and pages. */
export interface MasterFixture {
  master: Master;
  clock: ManualClock;
  /** masterApp with distTestRoutes mounted at "/", as `dt master` serves them. */
  app: Hono;
  close: () => Promise<void>;
}

export const PUBLIC_URL = "http://dt.test";
const T0 = 1_700_000_000_000;

export async function makeMaster(options: { outputs?: OutputsReader } = {}): Promise<MasterFixture> {
  const temps = new TempDirs();
  const dir = await temps.make("dt-web-");
  const clock = new ManualClock(T0);
  const repo = await SqliteRepo.open(":memory:", { clock });
  const log = createLogger({ level: "silent" });
  const master = new Master({
    repo, artifacts: new FsArtifactStore(`${dir}/artifacts`), liveLogs: new LiveLogs(`${dir}/live`), clock, log,
    newId: () => crypto.randomUUID(), publicUrl: PUBLIC_URL, outputs: options.outputs,
    dispatch: { leaseTtlMs: 30_000, heartbeatIntervalMs: 5_000, noResourceTimeoutMs: 600_000, isolateServer: PUBLIC_URL, maxWaitMs: 30_000, maxInfraRequeues: 3 },
  });
  const app = masterApp({ master, log, mounts: [{ prefix: "/", app: distTestRoutes(master) }] });
  return {
    master, clock, app,
    close: async () => {
      master.dispatcher.close();
      await repo.close();
      await temps.cleanup();
    },
  };
}

/** The 64-hex digest dt expects, derived from a word so tests can name their tasks. */
export function hashOf(word: string): string {
  return new Bun.CryptoHasher("sha256").update(word).digest("hex");
}

export interface TaskSpec {
  description: string;
  max_retries?: number;
}

/** Submits a job straight to the master; its task ids are `<hash>.<index>`. */
export async function submit(fx: MasterFixture, jobId: string, tasks: readonly TaskSpec[]): Promise<string[]> {
  await fx.master.submitJob({ job_id: jobId, tasks: tasks.map((t, i) => ({ isolate_hash: hashOf(`${t.description}#${i}`), ...t })) });
  return tasks.map((t, i) => `${hashOf(`${t.description}#${i}`)}.${i}`);
}

/** Markup in places a page shows: descriptions, slave names, messages. */
export const HOSTILE_DESCRIPTION = "<script>alert(1)</script>";
export const HOSTILE_SLAVE = `evil"<slave>`;
export const HOSTILE_MESSAGE = "<img src=x onerror=alert(1)>";

/** What the fake slave does with an attempt: report an outcome, or keep it running. */
export type Outcome = ReportedState | "hold";

/** What every uploaded log of a test attempt holds: markup that must come out escaped. */
export function logText(lease: Pick<Lease, "description" | "attempt">, stream: string): string {
  return `${stream} of ${lease.description} attempt ${lease.attempt}\n</pre><script>alert("${stream}")</script> & done\n`;
}

/**
 * Plays a slave named `slave` until nothing more is queued for it: leases
 * what there is, lets each attempt run `runMs` of virtual time, uploads its
 * logs (and artifacts when it passed) and reports `outcome(description,
 * attempt)`. Held attempts stay leased. Returns every lease it took.
 */
export async function drive(
  fx: MasterFixture, slave: string, outcome: (description: string, attempt: number) => Outcome, options: { runMs?: number; maxLeases?: number } = {},
): Promise<Lease[]> {
  const { runMs = 5_000, maxLeases = Number.POSITIVE_INFINITY } = options;
  const taken: Lease[] = [];
  while (taken.length < maxLeases) {
    const leases = await fx.master.dispatcher.lease({ slave: { name: slave, dimensions: {}, slots: 1, version: "t" }, free: 1, wait_ms: 0 });
    if (leases.length === 0) break;
    for (const lease of leases) {
      taken.push(lease);
      const state = outcome(lease.description, lease.attempt);
      if (state === "hold") continue;
      const start = fx.clock.now();
      fx.clock.advance(runMs);
      const key = (kind: "stdout" | "stderr" | "artifacts") => outputKey(lease.job_id, lease.task_id, lease.attempt, kind);
      await fx.master.deps.artifacts.put(key("stdout"), new TextEncoder().encode(logText(lease, "stdout")));
      await fx.master.deps.artifacts.put(key("stderr"), new TextEncoder().encode(logText(lease, "stderr")));
      if (state === "SUCCEEDED") await fx.master.deps.artifacts.put(key("artifacts"), new Uint8Array([0x50, 0x4b, 5, 6]));
      await fx.master.dispatcher.report({
        lease_id: lease.lease_id, job_id: lease.job_id, task_id: lease.task_id, attempt: lease.attempt, state,
        exit_code: state === "SUCCEEDED" ? 0 : state === "FAILED" ? 1 : null, message: state === "SUCCEEDED" ? null : HOSTILE_MESSAGE,
        times: { fetch_done_at: start, map_done_at: start, command_start_at: start, command_end_at: fx.clock.now(), upload_done_at: fx.clock.now() },
        cache: null, stdout_key: key("stdout"), stderr_key: key("stderr"), artifact_key: state === "SUCCEEDED" ? key("artifacts") : null, artifact_missing: false,
      });
    }
  }
  return taken;
}

/** A request to the fixture's app, as a client on the network would send it. */
export function call(fx: MasterFixture, path: string, init?: RequestInit): Promise<Response> {
  return Promise.resolve(fx.app.request(new Request(`${PUBLIC_URL}${path}`, init)));
}

/** A form-encoded POST, as urllib2 sends dist_test's client's calls. */
export function postForm(fx: MasterFixture, path: string, fields: Record<string, string>): Promise<Response> {
  return call(fx, path, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() });
}

/** `path?k=v&…` with every value encoded. */
export function withQuery(path: string, query: Record<string, string | number>): string {
  return `${path}?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))}`;
}

/** Jobs in every state the views must show; ids follow dist_test's `[NAME.]<user>.<unix_ts>.<pid>`. */
export const JOBS = {
  /** Finished: pass, fail, flaky (fail then pass), timed out, and a pass with a hostile description; on HOSTILE_SLAVE. */
  mixed: "mixed.alice.1700000000.101",
  /** Canceled with one attempt still leased and two that never ran; retries allowed, which once hung dist_test. */
  canceled: "cancel.bob.1700000000.102",
  /** One attempt running, with a live log. */
  live: "live.carol.1700000000.103",
  /** Two attempts on two slaves with known times, for the trace. */
  trace: "trace.erin.1700000000.104",
  /** A failure whose retry is queued. */
  retrying: "retry.dave.1700000000.105",
} as const;

export const MIXED_TASKS: TaskSpec[] = [
  { description: "pass" }, { description: "fail" }, { description: "flaky", max_retries: 1 }, { description: "slow" }, { description: HOSTILE_DESCRIPTION },
];

/** The live attempt's log so far: markup, and a multi-byte character. */
export const LIVE_LOG = "line 1 <b>bold?</b>\nline 2 “quoted” & </pre><script>alert(2)</script>\n";

export interface Scenarios {
  taskIds: Record<keyof typeof JOBS, string[]>;
  /** The two trace leases in the order they ran: on s-a from +2 s for 5 s, then on s-b from +7 s for 3 s. */
  traceLeases: Lease[];
}

/**
 * Builds JOBS one after another, each driven as far as it goes before the
 * next is submitted, so no job's leases take another's tasks. Leaves one
 * attempt queued (retrying) and two leased (canceled, live).
 */
export async function buildScenarios(fx: MasterFixture): Promise<Scenarios> {
  const mixed = await submit(fx, JOBS.mixed, MIXED_TASKS);
  await drive(fx, HOSTILE_SLAVE, (d, attempt) => (d === "fail" ? "FAILED" : d === "slow" ? "TIMED_OUT" : d === "flaky" && attempt === 0 ? "FAILED" : "SUCCEEDED"));

  const canceled = await submit(fx, JOBS.canceled, [0, 1, 2].map((i) => ({ description: `c${i}`, max_retries: 1 })));
  await drive(fx, "s2", () => "hold", { maxLeases: 1 });
  await fx.master.cancelJob(JOBS.canceled);

  const live = await submit(fx, JOBS.live, [{ description: "tail me" }]);
  const [liveLease] = await drive(fx, "s3", () => "hold");
  fx.master.deps.liveLogs.append(outputKey(JOBS.live, liveLease!.task_id, 0, "stdout"), 0, new TextEncoder().encode(LIVE_LOG));

  const trace = await submit(fx, JOBS.trace, [{ description: "alpha" }, { description: "beta" }]);
  fx.clock.advance(2_000);
  const first = await drive(fx, "s-a", () => "SUCCEEDED", { runMs: 5_000, maxLeases: 1 });
  const second = await drive(fx, "s-b", () => "SUCCEEDED", { runMs: 3_000, maxLeases: 1 });

  const retrying = await submit(fx, JOBS.retrying, [{ description: "again", max_retries: 1 }]);
  await drive(fx, "s4", () => "FAILED", { maxLeases: 1 });

  return { taskIds: { mixed, canceled, live, trace, retrying }, traceLeases: [...first, ...second] };
}

/**
 * The text of a log page's `<pre id="log">` as a browser shows it (tags
 * dropped, entities decoded; line numbers are CSS, not text): what a
 * scraper of dist_test's view_log or a user copying the log gets.
 */
export function preText(html: string): string {
  const pre = /<pre id="log"[^>]*>([\s\S]*?)<\/pre>/.exec(html);
  if (!pre) throw new Error(`no <pre id="log"> in the page: ${html.slice(0, 200)}`);
  return pre[1]!
    .replace(/<[^>]*>/g, "")
    .replace(/&(#x[0-9a-f]+|#\d+|quot|amp|lt|gt);/gi, (_, e: string) =>
      e[0] === "#" ? String.fromCodePoint(e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : ({ quot: '"', amp: "&", lt: "<", gt: ">" } as Record<string, string>)[e.toLowerCase()]!,
    );
}

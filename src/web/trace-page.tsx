/** @jsxImportSource hono/jsx */
import { TERMINAL_STATES } from "../master/model.ts";
import type { AttemptView, TaskView } from "../master/protocol.ts";
import { Page, formatDuration, pageLink } from "./layout.tsx";

/** One complete event of the Trace Event Format, with exactly dist_test's fields. */
export interface TraceEvent {
  cat: "run";
  /** The slave: one process row per slave in chrome://tracing and Perfetto. */
  pid: string;
  ph: "X";
  name: string;
  /** µs since the job's first attempt was queued. */
  ts: number;
  dur: number;
}

interface Bar {
  task: TaskView;
  attempt: AttemptView;
  event: TraceEvent;
  /** Still on its slave: drawn up to now, and growing at each look. */
  running: boolean;
}

/**
 * The job's completed attempts as dist_test's `/trace` built them: from the
 * lease (dist_test's start_timestamp) to the report (its complete_timestamp),
 * on the master's clock so that slaves' clocks need not agree.
 */
function bars(tasks: readonly TaskView[], now?: number): Bar[] {
  let origin = Number.POSITIVE_INFINITY;
  for (const t of tasks) for (const a of t.attempts) origin = Math.min(origin, a.queued_at);
  const out: Bar[] = [];
  for (const task of tasks) {
    for (const a of task.attempts) {
      if (a.slave === null || a.leased_at === null) continue;
      // The JSON is dist_test's: completed attempts only. The page (given `now`) draws running ones too.
      const running = !TERMINAL_STATES.has(a.state) || a.reported_at === null;
      if (running && (now === undefined || TERMINAL_STATES.has(a.state))) continue;
      const end = running ? now! : a.reported_at!;
      const event: TraceEvent = { cat: "run", pid: a.slave, ph: "X", name: task.description, ts: (a.leased_at - origin) * 1000, dur: Math.max(0, end - a.leased_at) * 1000 };
      out.push({ task, attempt: a, event, running });
    }
  }
  return out;
}

/**
 * `{"traceEvents": [...]}` for chrome://tracing or ui.perfetto.dev.
 *
 * @example
 *   catapultTrace((await master.jobTasks(id)).tasks) // { traceEvents: [{cat:"run", pid:"s1", ph:"X", name:"t", ts:0, dur:5e6}] }
 */
export function catapultTrace(tasks: readonly TaskView[]): { traceEvents: TraceEvent[] } {
  return { traceEvents: bars(tasks).map((b) => b.event) };
}

/** Each slave's bars in lanes, so that attempts running side by side (slots > 1) do not overlap. */
function lanes(all: readonly Bar[]): { slave: string; lanes: Bar[][] }[] {
  const bySlave = new Map<string, Bar[]>();
  for (const b of all) (bySlave.get(b.event.pid) ?? bySlave.set(b.event.pid, []).get(b.event.pid)!).push(b);
  return [...bySlave.entries()]
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([slave, list]) => {
      const rows: Bar[][] = [];
      const ends: number[] = [];
      for (const b of [...list].sort((x, y) => x.event.ts - y.event.ts)) {
        let lane = ends.findIndex((end) => end <= b.event.ts);
        if (lane === -1) lane = ends.push(0) - 1;
        ends[lane] = b.event.ts + b.event.dur;
        (rows[lane] ??= []).push(b);
      }
      return { slave, lanes: rows };
    });
}

/** A round tick step (1, 2 or 5 × 10^k µs) giving about ten ticks over `spanUs`. */
function tickStep(spanUs: number): number {
  const rough = Math.max(spanUs / 10, 1);
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
}

const LABEL_WIDTH = 180;
const PLOT_WIDTH = 1000;
const LANE_HEIGHT = 18;
const AXIS_HEIGHT = 20;
/** Roughly one character of the 11 px label font; longer labels are cut to fit their bar. */
const CHAR_WIDTH = 6.5;

/** Pixels to a tenth: finer only bloats the page. */
const px = (n: number) => Math.round(n * 10) / 10;

/** What a bar's colour says, in the legend's words; the same words are in each bar's title, so colour is never all there is. */
const KINDS = {
  passed: { fill: "#6c6", words: "passed" },
  failed: { fill: "#d55", words: "failed or timed out" },
  infra: { fill: "#aaa", words: "lost, infrastructure failure or canceled (not the test's)" },
  running: { fill: "#fd5", words: "running" },
} as const;

function kindOf(b: Bar): keyof typeof KINDS {
  if (b.running) return "running";
  if (b.attempt.state === "SUCCEEDED") return "passed";
  if (b.attempt.state === "FAILED" || b.attempt.state === "TIMED_OUT") return "failed";
  return "infra";
}

function Legend() {
  return (
    <p id="legend">
      {Object.values(KINDS).map((k) => (
        <span style="margin-right: 1.2em">
          <svg width="12" height="12" aria-hidden="true">
            <rect width="12" height="12" fill={k.fill} stroke="#333" stroke-width="0.5" />
          </svg>{" "}
          {k.words}
        </span>
      ))}
    </p>
  );
}

/** The part of the job a page shows, in µs since its first queued attempt. */
export interface TraceWindow {
  fromUs: number;
  toUs: number;
}

function Timeline({ jobId, bars: all, window }: { jobId: string; bars: readonly Bar[]; window: TraceWindow }) {
  const rows = lanes(all);
  const span = Math.max(window.toUs - window.fromUs, 1);
  const scale = PLOT_WIDTH / span;
  const step = tickStep(span);
  const ticks = Array.from({ length: Math.floor(span / step) + 1 }, (_, i) => Math.ceil(window.fromUs / step) * step + i * step).filter((t) => t <= window.toUs);
  const height = AXIS_HEIGHT + rows.reduce((n, r) => n + r.lanes.length, 0) * LANE_HEIGHT;
  let y = AXIS_HEIGHT;
  return (
    <svg id="timeline" role="img" aria-label="attempts by slave over time" xmlns="http://www.w3.org/2000/svg" width={LABEL_WIDTH + PLOT_WIDTH + 10} height={height} font-family="sans-serif" font-size="11">
      {ticks.map((t) => (
        <g>
          <line x1={px(LABEL_WIDTH + (t - window.fromUs) * scale)} x2={px(LABEL_WIDTH + (t - window.fromUs) * scale)} y1={AXIS_HEIGHT - 4} y2={height} stroke="#ddd" />
          <text x={px(LABEL_WIDTH + (t - window.fromUs) * scale + 2)} y={AXIS_HEIGHT - 6}>{formatDuration(t / 1000)}</text>
        </g>
      ))}
      {rows.map(({ slave, lanes: slaveLanes }) => {
        const top = y;
        y += slaveLanes.length * LANE_HEIGHT;
        return (
          <g>
            <line x1={0} x2={LABEL_WIDTH + PLOT_WIDTH} y1={top} y2={top} stroke="#999" />
            <text x={2} y={top + 13}>
              {slave.length > 27 ? `${slave.slice(0, 26)}…` : slave}
              <title>{slave}</title>
            </text>
            {slaveLanes.map((lane, i) =>
              lane.map((b) => {
                // Clipped to the window: a bar that starts before it or ends after it is drawn from or to its edge.
                const start = Math.max(b.event.ts, window.fromUs);
                const stop = Math.min(b.event.ts + b.event.dur, window.toUs);
                if (stop < start) return null;
                const x = LABEL_WIDTH + (start - window.fromUs) * scale;
                const width = Math.max((stop - start) * scale, 1);
                const fits = Math.floor((width - 4) / CHAR_WIDTH);
                const label = b.event.name.length <= fits ? b.event.name : fits > 2 ? `${b.event.name.slice(0, fits - 1)}…` : "";
                const barTop = top + i * LANE_HEIGHT + 2;
                const title = `${b.event.name} — ${formatDuration(b.event.dur / 1000)}${b.running ? " so far" : ""} (${b.running ? `running: ${b.attempt.state}` : b.attempt.state}; task ${b.task.task_id}, attempt ${b.attempt.attempt})`;
                const log = pageLink("log", { job_id: jobId, task_id: b.task.task_id, attempt: b.attempt.attempt, log: "stdout" });
                return (
                  <a href={log} aria-label={title}>
                    <title>{title}</title>
                    <rect x={px(x)} y={barTop} width={px(width)} height={LANE_HEIGHT - 4} fill={KINDS[kindOf(b)].fill} stroke="#333" stroke-width="0.5" />
                    {label ? <text x={px(x + 2)} y={barTop + 11}>{label}</text> : null}
                  </a>
                );
              }),
            )}
          </g>
        );
      })}
    </svg>
  );
}

/**
 * `/trace?job_id=X[&from=S&to=S]`: the attempts on a timeline, one row per
 * slave, completed ones and (drawn up to now) running ones, each bar a link
 * to its attempt's log with its full name, duration and state in its
 * title; `from` and `to` (seconds since the job's first queued attempt)
 * zoom into a part of it, and the zoom links move about without a script.
 * dist_test answered Catapult's trace.html with the trace inlined; dt ships
 * no copy of Catapult and links the same trace as JSON instead.
 */
export function TracePage({ jobId, tasks, now, window: asked }: { jobId: string; tasks: readonly TaskView[]; now: number; window?: { fromSec?: number; toSec?: number } }) {
  const all = bars(tasks, now);
  const done = all.filter((b) => !b.running);
  const busy = all.reduce((n, b) => n + b.event.dur, 0);
  const end = all.reduce((m, b) => Math.max(m, b.event.ts + b.event.dur), 1);
  const fromUs = Math.min(Math.max(0, (asked?.fromSec ?? 0) * 1e6), end);
  const toUs = Math.max(Math.min(end, asked?.toSec === undefined ? end : asked.toSec * 1e6), fromUs + 1);
  const zoomed = fromUs > 0 || toUs < end;
  const mid = (fromUs + toUs) / 2;
  const half = (toUs - fromUs) / 2;
  const link = (from: number, to: number) => pageLink("trace", { job_id: jobId, from: round(Math.max(0, from) / 1e6), to: round(Math.min(end, to) / 1e6) });
  return (
    <Page title={`dt: trace of ${jobId}`}>
      <h1>
        Trace of job <span class="mono">{jobId}</span>
      </h1>
      <p>
        <a href="./">Back to home</a> <a href={pageLink("job", { job_id: jobId })}>Job</a>{" "}
        <a href={pageLink("trace", { job_id: jobId, format: "json" })}>Trace JSON</a>
      </p>
      <p class="note">
        dist_test's trace page embedded Catapult's trace viewer, which dt does not ship. The Trace JSON link gives the same trace
        (Trace Event Format) to load into chrome://tracing or https://ui.perfetto.dev.
      </p>
      {all.length === 0 ? (
        <p id="empty">No attempt has run yet.</p>
      ) : (
        <>
          <p>
            {done.length} completed attempts{all.length > done.length ? ` and ${all.length - done.length} running` : ""} on {new Set(all.map((b) => b.event.pid)).size} slaves; {formatDuration(busy / 1000)} of slave time.
          </p>
          <Legend />
          <p id="zoom">
            {`Showing ${formatDuration(fromUs / 1000)} to ${formatDuration(toUs / 1000)} of ${formatDuration(end / 1000)}: `}
            <a href={link(mid - half / 2, mid + half / 2)}>zoom in</a>{" "}
            {zoomed && <a href={link(mid - half * 2, mid + half * 2)}>zoom out</a>}{" "}
            {zoomed && <a href={link(fromUs - half, toUs - half)}>earlier</a>}{" "}
            {zoomed && <a href={link(fromUs + half, toUs + half)}>later</a>}{" "}
            {zoomed && <a href={pageLink("trace", { job_id: jobId })}>whole job</a>}
          </p>
          <Timeline jobId={jobId} bars={all} window={{ fromUs, toUs }} />
        </>
      )}
    </Page>
  );
}

/** Seconds to the millisecond, for a link. */
const round = (sec: number) => Math.round(sec * 1000) / 1000;

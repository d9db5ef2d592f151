/** @jsxImportSource hono/jsx */
import { Hono } from "hono";
import { noCache } from "../master/http/cherrypy.ts";
import type { Master } from "../master/master.ts";
import type { SlaveView } from "../master/protocol.ts";
import { Page, formatTime, pageLink, sendPage } from "./layout.tsx";

/**
 * `/slaves`: the master's registry for people: each slave's state, why it
 * takes no work (a drain or quarantine, by whom, since when), what it runs,
 * when it last called (tasks by name, linked to their logs and jobs), and
 * its latest infrastructure failures. Drain, quarantine and resume are
 * `dt slaves` or the API, which each row names: a page that changes things
 * would need the CSRF defences the rest of the UI does without.
 */
export function slavesPageRoutes(master: Master): Hono {
  const app = new Hono();
  // GET only: dist_test had no such page, so no old client POSTs to it.
  app.get("/slaves", noCache, (c) => sendPage(c, <SlavesPage slaves={master.slaves()} now={master.deps.clock.now()} />));
  return app;
}

export function SlavesPage({ slaves, now }: { slaves: readonly SlaveView[]; now: number }) {
  const count = (state: SlaveView["state"]) => slaves.filter((s) => s.state === state).length;
  return (
    <Page title="dt: slaves">
      <p>
        <a href="./">jobs</a>
      </p>
      <h1>Slaves ({slaves.length})</h1>
      <p id="slave-counts">
        {`idle ${count("idle")}, busy ${count("busy")}, draining ${count("draining")}, quarantined ${count("quarantined")}, lost ${count("lost")}`}
      </p>
      <table id="slaves">
        <thead>
          <tr>
            <th>Slave</th>
            <th>State</th>
            <th>Why</th>
            <th>Slots</th>
            <th>Running</th>
            <th>Last heartbeat</th>
            <th>Version</th>
            <th>Dimensions</th>
            <th>Recent infrastructure failures</th>
          </tr>
        </thead>
        <tbody>
          {slaves.map((s) => (
            <tr class={s.state === "quarantined" || s.state === "lost" ? "failed" : s.state === "busy" ? "running" : ""}>
              <td class="mono">{s.metrics_url ? <a href={s.metrics_url}>{s.name}</a> : s.name}</td>
              <td>{s.state}</td>
              <td>
                {s.hold ? `${s.hold.kind} by ${s.hold.by} since ${formatTime(s.hold.since)}: ${s.hold.reason}` : ""}
                {s.pending_command ? ` (${s.pending_command.action} requested: ${s.pending_command.reason})` : ""}
                <div class="note">
                  <code>{s.hold || s.state === "lost" ? `dt slaves resume ${s.name}` : `dt slaves drain ${s.name} --reason "…"`}</code>
                </div>
              </td>
              <td>{s.slots}</td>
              <td>
                {s.running.map((r) => (
                  <div>
                    <a href={pageLink("log", { job_id: r.job_id, task_id: r.task_id, attempt: String(r.attempt), log: "stdout" })} title={r.task_id}>{r.description ?? r.task_id}</a>
                    {` attempt ${r.attempt} of job `}
                    <a href={pageLink("job", { job_id: r.job_id })}>{r.job_id}</a>
                  </div>
                ))}
              </td>
              <td>{`${Math.max(0, Math.round((now - s.last_seen_at) / 1000))} s ago`}</td>
              <td>{s.version}</td>
              <td class="mono">{Object.entries(s.dimensions).map(([k, v]) => `${k}=${v}`).join(" ")}</td>
              <td>
                {s.infra_failures.map((f) => (
                  <div>
                    {`${formatTime(f.at)} ${f.state} `}
                    <a href={pageLink("log", { job_id: f.job_id, task_id: f.task_id, attempt: String(f.attempt), log: "stdout" })} title={f.task_id}>{`${f.description ?? f.task_id} attempt ${f.attempt}`}</a>
                    {" of job "}
                    <a href={pageLink("job", { job_id: f.job_id })}>{f.job_id}</a>
                    {f.message ? `: ${f.message}` : ""}
                  </div>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Page>
  );
}

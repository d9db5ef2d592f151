/** @jsxImportSource hono/jsx */
import { Hono } from "hono";
import { isDtError } from "../common/errors.ts";
import { noCache } from "../master/http/cherrypy.ts";
import { caseHistory } from "../master/http/case-api.ts";
import { flakyCases, readFlakyQuery } from "../master/http/flaky-api.ts";
import type { Master } from "../master/master.ts";
import type { FlakyCase, FlakyCases } from "../master/protocol.ts";
import { HistoryPage } from "./history-page.tsx";
import { BinaryHistoryPage } from "./binary-history-page.tsx";
import { binaryHistory } from "../master/http/binary-history-api.ts";
import { Page, formatTime, pageLink, sendBadQuery, sendPage } from "./layout.tsx";

/** The windows the page offers one click away; any other is `?since=` (as the API takes it). */
const WINDOWS = ["1d", "7d", "30d"] as const;

/**
 * `/flaky`: GET tests/flaky for people, with the same parameters (since,
 * min_runs, limit, binary). Each case links to its history (the
 * `/tests/history` page, GET tests/history for people), its binary to the
 * binary's (`/tests/binary_history`), and its latest failure's log. Links are relative, so the page works behind a path
 * prefix; every name is escaped by the JSX.
 */
export function flakyPageRoutes(master: Master): Hono {
  const app = new Hono();
  // GET only: dist_test had no such page, so no old client POSTs to it.
  app.get("/flaky", noCache, async (c) => {
    let query;
    try {
      query = readFlakyQuery(c.req.query(), master.deps.clock.now());
    } catch (err) {
      if (!isDtError(err, "invalid_input")) throw err;
      return sendBadQuery(c, "dt: flaky test cases", err.message);
    }
    return sendPage(c, <FlakyPage answer={await flakyCases(master, query)} window={c.req.query("since") ?? null} />);
  });
  app.get("/tests/history", noCache, async (c) => {
    const query = c.req.query();
    let history;
    try {
      history = await caseHistory(master.deps.repo, query);
    } catch (err) {
      if (!isDtError(err, "invalid_input")) throw err;
      return sendBadQuery(c, "dt: test history", err.message, "../");
    }
    return sendPage(c, <HistoryPage history={history} query={query} />);
  });
  app.get("/tests/binary_history", noCache, async (c) => {
    const query = c.req.query();
    let history;
    try {
      history = await binaryHistory(master.deps.repo, query, master.deps.clock.now());
    } catch (err) {
      if (!isDtError(err, "invalid_input")) throw err;
      return sendBadQuery(c, "dt: binary history", err.message, "../");
    }
    return sendPage(c, <BinaryHistoryPage history={history} query={query} />);
  });
  return app;
}

/** A case's first line of failure text, as the job page shows it. */
const firstLine = (text: string | null) => (text ?? "").split("\n", 1)[0]!;

export function FlakyPage({ answer, window }: { answer: FlakyCases; window: string | null }) {
  const keep = { ...(answer.min_runs > 1 ? { min_runs: answer.min_runs } : {}), ...(answer.binary === null ? {} : { binary: answer.binary }) };
  return (
    <Page title="dt: flaky test cases">
      <p>
        <a href="./">jobs</a> <a href="slaves">slaves</a>
      </p>
      <h1>Flaky test cases ({answer.cases.length})</h1>
      <p class="filters">
        {WINDOWS.map((w) => (w === (window ?? "7d") ? <strong>{`last ${w}`}</strong> : <a href={pageLink("flaky", { since: w, ...keep })}>{`last ${w}`}</a>))}
      </p>
      <p id="window">
        {`Jobs created since ${formatTime(answer.since)}${answer.min_runs > 1 ? `, cases that ran in at least ${answer.min_runs} of them` : ""}${answer.binary === null ? "" : `, binary ${answer.binary}`}. `}
        A case is flaky in a job when it failed (or crashed) and then passed in a later attempt of the same task, or passed after its runner's own reruns; its rate is the jobs in which it was flaky ÷ the jobs that ran it.{" "}
        <a href={pageLink("api/v1/tests/flaky", { since: answer.since, ...keep })}>JSON</a>
      </p>
      {answer.cases.length === 0 ? (
        <p id="empty">No test case was flaky in these jobs.</p>
      ) : (
        <table id="flaky">
          <thead>
            <tr>
              <th>Test</th>
              <th>Jobs</th>
              <th>Runs</th>
              <th>Failures</th>
              <th>Flaky</th>
              <th>Rate</th>
              <th>Last failure</th>
              <th>History</th>
            </tr>
          </thead>
          <tbody>
            {answer.cases.map((c) => (
              <FlakyRow c={c} />
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}

function FlakyRow({ c }: { c: FlakyCase }) {
  const f = c.last_failure;
  return (
    <tr class="flaky">
      <td class="mono">
        <a href={pageLink("tests/binary_history", { binary: c.binary })}>{c.binary}</a> › {c.suite ? `${c.suite}.` : ""}
        {c.name}
      </td>
      <td>{c.jobs}</td>
      <td>{c.runs}</td>
      <td>{c.failures}</td>
      <td>{c.flaky}</td>
      <td>{`${(c.flake_rate * 100).toFixed(1)}%`}</td>
      <td>
        {f && (
          <>
            {formatTime(f.reported_at)} <a href={pageLink("job", { job_id: f.job_id })}>{f.job_id}</a> ({f.status}){" "}
            <a href={pageLink("view_log", { job_id: f.job_id, task_id: f.task_id, attempt: f.attempt, log: "stdout" })}>log</a>
            {f.message ? <div class="note">{firstLine(f.message)}</div> : null}
          </>
        )}
      </td>
      <td>
        <a href={pageLink("tests/history", { binary: c.binary, suite: c.suite, case: c.name })}>history</a>
      </td>
    </tr>
  );
}

/** @jsxImportSource hono/jsx */
import { CAS_API_PREFIX } from "../isolate/cas/client.ts";
import type { IsolatedEntry } from "../isolate/manifest.ts";
import type { OutputsRef } from "../isolate/outputs/outputs-ref.ts";
import { formatBytes } from "../common/units.ts";
import { Page, pageLink } from "./layout.tsx";

/** Rows a page lists: a browser handles 10,000 table rows; a slave uploads at most 100,000 files. */
export const MAX_LISTED_OUTPUTS = 10_000;

export interface OutputsPageData {
  jobId: string;
  taskId: string;
  attempt: number;
  ref: OutputsRef;
  /** The manifest's entries, sorted by path; null when the master could not or would not read it (`why`). */
  files: [string, IsolatedEntry][] | null;
  why: string | null;
}

/** Where a blob of `server` downloads: its CAS API, which serves it as application/octet-stream. */
export function blobLink(server: string, hash: string): string {
  return `${server.replace(/\/+$/, "")}${CAS_API_PREFIX}/blobs/${hash}`;
}

/**
 * `/outputs?job_id=&task_id=&attempt=`: what an attempt left in
 * ISOLATED_OUTDIR, one row per file with a link to its blob in the CAS.
 * Every name comes from a test and is escaped by the JSX.
 */
export function OutputsPage({ jobId, taskId, attempt, ref, files, why }: OutputsPageData) {
  const shown = files?.slice(0, MAX_LISTED_OUTPUTS) ?? [];
  return (
    <Page title={`dt: outputs of ${taskId} attempt ${attempt}`}>
      <h1>Outputs of attempt {attempt}</h1>
      <p>
        Job <a href={pageLink("job", { job_id: jobId })}>{jobId}</a>, task <span class="mono">{taskId}</span>
      </p>
      <p>
        Manifest <a class="mono" href={blobLink(ref.isolatedserver, ref.isolated)}>{ref.isolated}</a> in {ref.isolatedserver}; <code>dt fetch -o {jobId}</code> downloads
        the files with their modes.
      </p>
      {why ? <p class="note" id="why">{why}</p> : null}
      {files ? (
        <table id="outputs">
          <thead>
            <tr>
              <th>path</th>
              <th>size</th>
              <th>mode</th>
            </tr>
          </thead>
          <tbody>
            {shown.map(([path, e]) => (
              <tr>
                <td class="mono">{e.h ? <a href={blobLink(ref.isolatedserver, e.h)}>{path}</a> : `${path} → ${e.l}`}</td>
                <td>{e.s === undefined ? "" : formatBytes(e.s)}</td>
                <td class="mono">{e.m === undefined ? "" : e.m.toString(8).padStart(4, "0")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {files && files.length > shown.length ? <p class="note">and {files.length - shown.length} more files not listed; fetch them with dt fetch -o</p> : null}
    </Page>
  );
}

/**
 * Mutated calls of dist_test's form API (src/master/http/dist-test-api.ts,
 * read by cherrypy.ts's requestParams): /submit_job, /cancel_job,
 * /retry_task, /job_status, /tasks and /failed_tasks, with their parameters
 * in the query string, an urlencoded body or a multipart body, as dist_test's
 * client and slaves sent them, then edited field by field and byte by byte.
 */
import type { FuzzRequest } from "./http.ts";
import { jobBodies } from "./job-json.target.ts";
import { COMMON_TOKENS, Mutator, type Random, below, chance, lenientText, logSize, pick, utf8 } from "./mutate.ts";

/** A job the fuzzing may cancel and retry in: the seeds name it, so mutated calls reach real records. */
export const VICTIM_JOB_ID = "victim.alice.1700000000.7";
export const VICTIM_HASH = "8".repeat(64);

type Params = [name: string, value: Uint8Array][];
type Encoding = "query" | "urlencoded" | "multipart" | "query+body";

interface Call {
  endpoint: string;
  params: [string, string][];
}

/** One valid call per endpoint, as dist_test's client, slaves and scripts made it. */
const CALLS: readonly Call[] = [
  {
    endpoint: "/submit_job",
    params: [["job_id", "kudu.bob.1700000000.42"], ["job_json", JSON.stringify({ tasks: [{ isolate_hash: "9".repeat(64), description: "t", timeout: 0, max_retries: 0, artifact_archive_globs: [] }] })]],
  },
  { endpoint: "/cancel_job", params: [["job_id", VICTIM_JOB_ID]] },
  { endpoint: "/retry_task", params: [["task_json", JSON.stringify({ job_id: VICTIM_JOB_ID, task_id: `${VICTIM_HASH}.0`, attempt: 0, max_retries: 1 })]] },
  { endpoint: "/job_status", params: [["job_id", VICTIM_JOB_ID]] },
  { endpoint: "/tasks", params: [["job_id", VICTIM_JOB_ID], ["status", "failed"]] },
  { endpoint: "/failed_tasks", params: [["job_id", VICTIM_JOB_ID]] },
];

const NAMES = ["job_id", "job_json", "task_json", "status", "attempt", "task_id", "job_id[]", "JOB_ID", "", "__proto__", "constructor"];
const STATUSES = ["failed", "succeeded", "finished", "all", "running", "", "FAILED", "__proto__", "constructor", "toString"];

const UNRESERVED = /[A-Za-z0-9\-_.~]/;

/** Percent-encodes every byte but the unreserved ones, so any bytes (invalid UTF-8 too) reach the server as sent. */
function percentEncode(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) {
    const c = String.fromCharCode(byte);
    out += UNRESERVED.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

const urlencoded = (params: Params) => params.map(([name, value]) => `${percentEncode(utf8(name))}=${percentEncode(value)}`).join("&");

/**
 * A query string as a URL can carry it: printable ASCII kept as is (a stray
 * `%` or `&` from a mutation included), every other byte percent-encoded.
 */
function queryText(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += byte > 0x20 && byte < 0x7f && byte !== 0x23 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  return out;
}

function multipart(params: Params, boundary: string, random: Random): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, value] of params) {
    // curl -F job_json=@tasks.json sends a field as a file; requestParams reads it as text.
    const file = chance(random, 0.3) ? `; filename="${pick(random, ["tasks.json", "", "a\"b", "../x"])}"` : "";
    const type = file ? "\r\nContent-Type: application/json" : "";
    parts.push(utf8(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"${file}${type}\r\n\r\n`), value, utf8("\r\n"));
  }
  parts.push(utf8(`--${boundary}--\r\n`));
  return Buffer.concat(parts);
}

/** Content types that are almost right: no boundary, another boundary, other case, another charset. */
function oddContentType(random: Random, boundary: string): string {
  return pick(random, [
    "multipart/form-data", "multipart/form-data; boundary=", `multipart/form-data; boundary=${boundary}x`, `MULTIPART/FORM-DATA; BOUNDARY=${boundary}`,
    `multipart/form-data; boundary="${boundary}"`, `multipart/form-data; boundary=${"b".repeat(logSize(random, 5_000))}`, "multipart/mixed; boundary=x",
    "application/x-www-form-urlencoded; charset=utf-16", "application/x-www-form-urlencoded; charset=latin1", "APPLICATION/X-WWW-FORM-URLENCODED",
    "application/x-www-form-urlencodedx", "text/plain", "application/json", "",
  ]);
}

/**
 * Mutated form calls, each from one of CALLS: its parameters edited (values
 * from the job JSON generator for job_json, names dropped, repeated or
 * swapped), encoded one of four ways, and then, half the time, the encoded
 * query or body edited byte by byte.
 */
export function formRequests(random: Random): () => FuzzRequest {
  const r = random;
  const jobJson = jobBodies(r);
  const values = new Mutator(r, {
    seeds: [...new Set(CALLS.flatMap((c) => c.params.map(([, v]) => v)))].map(utf8),
    dictionary: [VICTIM_JOB_ID, `${VICTIM_HASH}.0`, ...STATUSES],
    maxLength: 1 << 18,
  });
  const encoded = new Mutator(r, {
    seeds: CALLS.map((c) => utf8(urlencoded(c.params.map(([n, v]) => [n, utf8(v)])))),
    dictionary: ["&", "=", "%", "%0", "%00", "%FF", "%C3%28", "+", "&&", "==", "--", "\r\n", "\r\n\r\n", "Content-Disposition: form-data; name=", "filename=", ...NAMES],
    maxLength: 1 << 21,
  });
  const mutateValue = (name: string, value: string): Uint8Array => {
    if (name === "job_json" && chance(r, 0.7)) return jobJson();
    if (name === "status" && chance(r, 0.5)) return utf8(pick(r, STATUSES));
    return chance(r, 0.1) ? utf8(pick(r, COMMON_TOKENS)) : values.mutate(utf8(value));
  };

  return (): FuzzRequest => {
    const call = pick(r, CALLS);
    let params: Params = call.params.map(([n, v]) => [n, utf8(v)]);
    const edits = below(r, 4);
    for (let i = 0; i < edits; i++) {
      const at = below(r, params.length + 1);
      const roll = r();
      if (roll < 0.5 && params.length > 0) {
        const [name, value] = params[at % params.length]!;
        params[at % params.length] = [name, mutateValue(name, lenientText(value))];
      } else if (roll < 0.65 && params.length > 0) params.splice(at % params.length, 1);
      else if (roll < 0.8 && params.length > 0) params.splice(at, 0, [params[at % params.length]![0], mutateValue(params[at % params.length]![0], "")]);
      else if (roll < 0.9) params.splice(at, 0, [pick(r, NAMES), mutateValue("", pick(r, [VICTIM_JOB_ID, "1", ""]))]);
      else params = params.map(([name, value]) => [pick(r, [name, name.toUpperCase(), ` ${name}`, `${name}\0`]), value]);
    }

    const encoding: Encoding = pick(r, ["query", "urlencoded", "multipart", "query+body"]);
    const boundary = `----dtfuzz${below(r, 1e9)}`;
    const bytewise = chance(r, 0.5);
    if (encoding === "query") {
      const query = utf8(urlencoded(params));
      return { method: pick(r, ["GET", "GET", "POST"]), path: `${call.endpoint}?${queryText(bytewise ? encoded.mutate(query) : query)}` };
    }
    const split = encoding === "query+body" ? below(r, params.length + 1) : 0;
    const query = split > 0 ? `?${queryText(utf8(urlencoded(params.slice(0, split))))}` : "";
    const inBody = params.slice(split);
    const multi = encoding === "multipart" || (encoding === "query+body" && chance(r, 0.5));
    let body = multi ? multipart(inBody, boundary, r) : utf8(urlencoded(inBody));
    if (bytewise) body = encoded.mutate(body);
    let type = multi ? `multipart/form-data; boundary=${boundary}` : "application/x-www-form-urlencoded";
    if (chance(r, 0.15)) type = oddContentType(r, boundary);
    const headers: Record<string, string> = type ? { "Content-Type": type } : {};
    return { method: "POST", path: `${call.endpoint}${query}`, headers, body };
  };
}

import type { Context, MiddlewareHandler } from "hono";
import { DtError } from "../../common/errors.ts";
import { readBodyLimited } from "../../common/http.ts";

/**
 * What dist_test's CherryPy tool `no_caching` sent, so that browsers and
 * proxies never show a stale job; every endpoint but `/view_log` has it.
 */
export const NO_CACHE_HEADERS: Readonly<Record<string, string>> = {
  "Cache-Control": "no-cache, no-store",
  Pragma: "no-cache",
  Expires: "Sat, 01 Jan 1970 00:00:00 GMT",
};

/** Route middleware adding NO_CACHE_HEADERS, to error answers too. */
export const noCache: MiddlewareHandler = async (c, next) => {
  await next();
  for (const [name, value] of Object.entries(NO_CACHE_HEADERS)) c.res.headers.set(name, value);
};

/** Parameters of one request, by name: the first value of each. */
export type Params = ReadonlyMap<string, string>;

/** Form bodies of the small endpoints (cancel, retry, the pages) stay well under this. */
export const SMALL_FORM_BYTES = 1 * 2 ** 20;

/**
 * A request's parameters as CherryPy gave them to dist_test's handlers: the
 * query string merged with an application/x-www-form-urlencoded or
 * multipart/form-data body, so a GET `?job_id=X` and a POST `job_id=X` are
 * the same call. A body field wins over a query field of the same name; a
 * repeated name keeps its first value (CherryPy passed a list, which no
 * dist_test handler accepted). Other bodies are ignored, as CherryPy did.
 *
 * @example
 *   const params = await requestParams(c, SMALL_FORM_BYTES);
 *   const jobId = requireParam(params, "job_id");
 */
export async function requestParams(c: Context, limit: number): Promise<Params> {
  const params = new Map<string, string>();
  for (const [name, value] of new URL(c.req.url).searchParams) if (!params.has(name)) params.set(name, value);
  const type = c.req.header("content-type") ?? "";
  const isForm = /^application\/x-www-form-urlencoded\b/i.test(type) || /^multipart\/form-data\b/i.test(type);
  if (c.req.method !== "POST" || !isForm) return params;
  const body = await readBodyLimited(c.req.raw, limit, `POST ${c.req.path}`);
  const fields: [string, string | Blob][] = [];
  try {
    const form = await new Response(body, { headers: { "content-type": type } }).formData();
    form.forEach((value, name) => fields.push([name, value]));
  } catch (err) {
    throw new DtError("invalid_input", `POST ${c.req.path}: the ${type.split(";")[0]} body cannot be parsed (${(err as Error).message})`, { cause: err });
  }
  const fromBody = new Set<string>();
  for (const [name, value] of fields) {
    if (fromBody.has(name)) continue;
    fromBody.add(name);
    // A multipart field sent as a file (curl -F job_json=@tasks.json) is read as text.
    params.set(name, typeof value === "string" ? value : await value.text());
  }
  return params;
}

/** The named parameter; a 400 naming it when it is absent or empty. */
export function requireParam(params: Params, name: string): string {
  const value = params.get(name);
  if (value === undefined || value === "") throw new DtError("invalid_input", `the request must give ${name} (a query parameter or a form field)`);
  return value;
}

/** An attempt number: digits only, so "1e3", "-1" and " 2" are refused rather than read loosely. */
export function attemptParam(params: Params, name = "attempt"): number {
  const value = requireParam(params, name);
  const n = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new DtError("invalid_input", `${name} must be a non-negative integer, got ${JSON.stringify(value.slice(0, 40))}`);
  return n;
}

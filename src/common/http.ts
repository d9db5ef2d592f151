import type { MiddlewareHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { DtError, type DtErrorCode, isDtErrorCode } from "./errors.ts";

const STATUS_OF_CODE: Record<DtErrorCode, ContentfulStatusCode> = {
  invalid_input: 400,
  digest_mismatch: 400,
  not_found: 404,
  too_large: 413,
  no_space: 507,
  // 401 is only ever the guard's answer with a challenge; an error raised elsewhere refuses outright.
  unauthorized: 403,
  // A service the server depends on (S3, a database, beanstalkd) is away: the server is, for now, unavailable, and clients retry.
  unreachable: 503,
  internal: 500,
};

/**
 * On every answer of a dt server: no MIME sniffing, so a log or artifact
 * served as text is never run as HTML or script; no framing of its pages by
 * other sites.
 */
export const securityHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  c.res.headers.set("X-Content-Type-Options", "nosniff");
  c.res.headers.set("X-Frame-Options", "DENY");
};

/** The HTTP status a DtError answers with; anything else is a 500. */
export function httpStatusOf(err: unknown): ContentfulStatusCode {
  return (err instanceof DtError ? STATUS_OF_CODE[err.code] : undefined) ?? 500;
}

/** The JSON body of every dt error response: `{"error": message, "code": code}`. */
export function errorBody(err: unknown): { error: string; code: DtErrorCode } {
  if (err instanceof DtError) return { error: err.message, code: err.code };
  return { error: "internal error; see the server log", code: "internal" };
}

/**
 * Reads a request body into memory, refusing it with `too_large` as soon as
 * it exceeds `limit` bytes (by Content-Length up front, or while reading when
 * the client streams without one).
 */
export async function readBodyLimited(req: Request, limit: number, what: string): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) {
    throw new DtError("too_large", `${what}: body of ${declared} bytes exceeds the limit of ${limit}; split the request`);
  }
  // A declared length within the limit is what the body holds (the server frames it by that length): read it whole, natively, without
  // making a stream of it. A stream costs a promise and a pull per chunk, and was a third of an idle master's CPU, whose slaves send a few
  // hundred bytes at a time.
  if (declared !== null) return new Uint8Array(await req.arrayBuffer());
  if (!req.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of req.body) {
    total += chunk.byteLength;
    if (total > limit) {
      throw new DtError("too_large", `${what}: body exceeds the limit of ${limit} bytes; split the request`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const UTF8 = new TextDecoder();

/** Parses a JSON request body within `limit` bytes; bad JSON is `invalid_input`. */
export async function readJsonLimited(req: Request, limit: number, what: string): Promise<unknown> {
  const bytes = await readBodyLimited(req, limit, what);
  try {
    return JSON.parse(UTF8.decode(bytes));
  } catch (err) {
    throw new DtError("invalid_input", `${what}: body is not valid JSON (${(err as Error).message})`);
  }
}

/**
 * What a dt server's error response says: its `{"error", "code"}` JSON when
 * it has one (an unknown code is not trusted), else the status line and the
 * start of the body (a proxy's page).
 */
export async function errorOfResponse(res: Response): Promise<{ message: string; code: DtErrorCode | undefined }> {
  let message = `${res.status} ${res.statusText}`.trim();
  let code: DtErrorCode | undefined;
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { error?: unknown; code?: unknown };
    if (typeof body.error === "string") message = body.error;
    if (isDtErrorCode(body.code)) code = body.code;
  } catch {
    if (text) message += `: ${text.slice(0, 200)}`;
  }
  return { message, code };
}

/**
 * A DtError for a dt server's non-2xx answer to `what` at `url`: the
 * server's own code when it sent one, else one from the status (404
 * not_found, 413 too_large, other 4xx invalid_input, 5xx unreachable).
 */
export async function dtErrorOfResponse(what: string, url: string, res: Response): Promise<DtError> {
  const { message, code } = await errorOfResponse(res);
  const fallback: DtErrorCode = res.status === 404 ? "not_found" : res.status === 413 ? "too_large" : res.status < 500 ? "invalid_input" : "unreachable";
  return new DtError(code && code !== "internal" ? code : fallback, `${what} (${url}): ${res.status} ${message}`);
}

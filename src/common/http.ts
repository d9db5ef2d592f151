import type { ContentfulStatusCode } from "hono/utils/http-status";
import { DtError, type DtErrorCode } from "./errors.ts";

const STATUS_OF_CODE: Record<DtErrorCode, ContentfulStatusCode> = {
  invalid_input: 400,
  digest_mismatch: 400,
  not_found: 404,
  too_large: 413,
  no_space: 507,
  unreachable: 502,
  internal: 500,
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

/** Parses a JSON request body within `limit` bytes; bad JSON is `invalid_input`. */
export async function readJsonLimited(req: Request, limit: number, what: string): Promise<unknown> {
  const bytes = await readBodyLimited(req, limit, what);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new DtError("invalid_input", `${what}: body is not valid JSON (${(err as Error).message})`);
  }
}

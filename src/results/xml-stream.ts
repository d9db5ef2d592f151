/**
 * A bounded, refusing XML event stream for the report parsers, on `sax` in
 * strict mode (bench/results-parse.ts and the report of issue 13 say why
 * sax: it is the one of the candidates that both reports malformed and
 * truncated input and caps its own buffers).
 *
 * Bounds: the file is read in SLICE_BYTES pieces; sax flushes text longer
 * than MAX_TOKEN_CHARS in pieces and refuses any longer name or attribute;
 * a tag may carry at most MAX_ATTRIBUTE_CHARS of attributes; elements nest
 * at most MAX_DEPTH deep. Refused outright: a DOCTYPE (where entity
 * declarations, their expansion and external entities live) and any entity
 * but XML's five. Every problem ends the parse with a note; what the
 * handlers were given so far stands.
 */
import sax from "sax";
import { describeProblem, type Notes, type ResultSource, sourceChunks } from "./parser.ts";

export interface XmlHandlers {
  open(name: string, attributes: Readonly<Record<string, string>>): void;
  /** Character data and CDATA, possibly in several pieces. */
  text(piece: string): void;
  close(name: string): void;
}

/**
 * sax is fed pieces this big, so a stop takes effect within 2 KiB whatever
 * size the stream's chunks are, and sax's one quadratic state (below) costs
 * at most 2 KiB squared (~20 ms) before the guard sees it.
 */
const SLICE_BYTES = 2 * 1024;
/**
 * Longest `<!…` declaration that is not yet a comment, CDATA or DOCTYPE. sax
 * re-reads the whole declaration at every character (a regex test on a
 * growing string), so `<![CDATA,,,,…` of 2 MiB hung it (found by the fuzz
 * test); the valid ones are told apart within 8 characters.
 */
const MAX_DECLARATION_CHARS = 256;
/**
 * sax's per-buffer limit (its default is 64 KiB). Text past it is handed over
 * in pieces; a longer attribute value stops the parse. gtest puts the whole
 * failure message in an attribute, so it is generous.
 */
const MAX_TOKEN_CHARS = 1024 * 1024;
/** All attributes of one tag together; bounds a tag with thousands of 1 MiB attributes. */
const MAX_ATTRIBUTE_CHARS = 2 * 1024 * 1024;
/** Reports nest testsuites a few levels deep; thousands is an attack on the element stack. */
const MAX_DEPTH = 256;

/** The one piece of sax's state the guards read (a plain property of its parser). */
interface SaxInternals {
  sgmlDecl?: string;
}

/** Stops the parse: thrown by a handler or by the guards below, turned into a note by streamXml. */
export class StopParse extends Error {}

/** The outcome of streaming: whether the document ended cleanly. */
export interface XmlStreamResult {
  complete: boolean;
}

/**
 * Streams `source` through sax, calling `handlers`; problems go to `notes` and
 * end the parse (resolves, never rejects). `openElements` names what was open
 * when a truncated file ended.
 */
export async function streamXml(source: ResultSource, handlers: XmlHandlers, notes: Notes, what: string): Promise<XmlStreamResult> {
  (sax as unknown as { MAX_BUFFER_LENGTH: number }).MAX_BUFFER_LENGTH = MAX_TOKEN_CHARS;
  const parser = sax.parser(true, { position: true, strictEntities: true } as sax.SAXOptions);
  const open: string[] = [];
  let sawRoot = false;
  let stop: string | null = null;
  let attributeChars = 0;
  const fail = (why: string) => {
    stop ??= why;
    throw new StopParse(why);
  };
  const where = () => `line ${parser.line + 1}, column ${parser.column + 1}`;
  parser.onerror = (err) => {
    // sax appends "\nLine: …" itself; the first line is the reason.
    stop ??= `${what}: not well-formed XML at ${where()} (${err.message.split("\n")[0]}); the parse stopped there`;
    throw new StopParse(stop);
  };
  parser.ondoctype = () => fail(`${what}: a DOCTYPE declaration at ${where()} was refused (entity declarations and external entities are not read); the parse stopped there`);
  parser.onattribute = (attribute) => {
    attributeChars += attribute.name.length + attribute.value.length;
    if (attributeChars > MAX_ATTRIBUTE_CHARS) fail(`${what}: a tag at ${where()} has more than ${MAX_ATTRIBUTE_CHARS} characters of attributes; the parse stopped there`);
  };
  parser.onopentag = (tag) => {
    attributeChars = 0;
    if (open.length === 0 && sawRoot) fail(`${what}: a second root element <${tag.name}> at ${where()}; the parse stopped there`);
    sawRoot = true;
    if (open.length >= MAX_DEPTH) fail(`${what}: elements nest deeper than ${MAX_DEPTH} at ${where()}; the parse stopped there`);
    open.push(tag.name);
    handlers.open(tag.name, tag.attributes as Record<string, string>);
  };
  parser.ontext = (text) => {
    if (open.length > 0) handlers.text(text);
  };
  parser.oncdata = parser.ontext;
  parser.onclosetag = (name) => {
    open.pop();
    handlers.close(name);
  };

  let decoder = new TextDecoder("utf-8", { fatal: true });
  let offset = 0;
  try {
    for await (const chunk of sourceChunks(source)) {
      for (let at = 0; at < chunk.length; at += SLICE_BYTES) {
        const slice = chunk.subarray(at, at + SLICE_BYTES);
        let text: string;
        try {
          text = decoder.decode(slice, { stream: true });
        } catch {
          notes.add(`${what}: not valid UTF-8 near byte ${offset}; read on with U+FFFD in place of the bad bytes`);
          decoder = new TextDecoder("utf-8");
          text = decoder.decode(slice, { stream: true });
        }
        offset += slice.length;
        parser.write(text);
        const declaration = (parser as unknown as SaxInternals).sgmlDecl ?? "";
        if (declaration.length > MAX_DECLARATION_CHARS) {
          fail(`${what}: a markup declaration "<!${declaration.slice(0, 20)}…" near byte ${offset} is no comment, CDATA or DOCTYPE; the parse stopped there`);
        }
        if (stop) break;
      }
      if (stop) break;
    }
    if (!stop) parser.write(decoder.decode());
  } catch (err) {
    if (!(err instanceof StopParse)) stop ??= `${what}: the parse stopped at byte ${offset}: ${describeProblem(err)}`;
  }
  if (stop) {
    notes.add(stop);
    return { complete: false };
  }
  if (open.length > 0) {
    notes.add(`${what}: the file ends inside <${open.join("><")}> (truncated: did its writer die mid-write?); the cases before that point are kept`);
    return { complete: false };
  }
  if (!sawRoot) {
    notes.add(`${what}: no XML element in the file`);
    return { complete: false };
  }
  return { complete: true };
}

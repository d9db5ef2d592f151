/** An element of a parsed document. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Character data directly inside, entities decoded. */
  text: string;
}

const NAME = /[A-Za-z_:][-A-Za-z0-9._:]*/y;
const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/**
 * A strict, small XML 1.0 reader for tests: it throws on anything not
 * well-formed (unbalanced or misnested tags, unquoted or repeated
 * attributes, a raw `<` or `&`, unknown entities, characters XML cannot
 * carry, more than one root) and returns the root element otherwise.
 * No DTDs, comments, CDATA or processing instructions but the declaration.
 */
export function parseXml(doc: string): XmlElement {
  for (const ch of doc) {
    const c = ch.codePointAt(0)!;
    const ok = c === 0x9 || c === 0xa || c === 0xd || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || c >= 0x10000;
    if (!ok) throw new Error(`character U+${c.toString(16)} is not allowed in XML`);
  }
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`${why} at offset ${i}: ${JSON.stringify(doc.slice(i, i + 30))}`);
  };
  const name = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(doc);
    if (!m) fail("expected a name");
    i += m![0].length;
    return m![0];
  };
  const skipSpace = () => {
    while (i < doc.length && /\s/.test(doc[i]!)) i++;
  };
  const decode = (raw: string): string =>
    raw.replace(/&([^;]*);|[&<]/g, (whole, ref: string | undefined) => {
      if (ref === undefined) return fail(`raw ${whole} in text`);
      if (ref in ENTITIES) return ENTITIES[ref]!;
      const m = /^#(?:x([0-9A-Fa-f]+)|([0-9]+))$/.exec(ref);
      if (!m) return fail(`unknown entity &${ref};`);
      return String.fromCodePoint(m[1] ? parseInt(m[1], 16) : Number(m[2]));
    });

  if (doc.startsWith("<?xml")) {
    const end = doc.indexOf("?>");
    if (end < 0) fail("unterminated declaration");
    i = end + 2;
  }
  skipSpace();
  const element = (): XmlElement => {
    if (doc[i] !== "<") fail("expected <");
    i++;
    const el: XmlElement = { name: name(), attrs: {}, children: [], text: "" };
    for (;;) {
      skipSpace();
      if (doc.startsWith("/>", i)) {
        i += 2;
        return el;
      }
      if (doc[i] === ">") {
        i++;
        break;
      }
      const attr = name();
      if (attr in el.attrs) fail(`repeated attribute ${attr}`);
      skipSpace();
      if (doc[i] !== "=") fail("expected =");
      i++;
      skipSpace();
      const quote = doc[i];
      if (quote !== '"' && quote !== "'") fail("attribute value not quoted");
      const end = doc.indexOf(quote!, i + 1);
      if (end < 0) fail("unterminated attribute value");
      el.attrs[attr] = decode(doc.slice(i + 1, end));
      i = end + 1;
    }
    for (;;) {
      const lt = doc.indexOf("<", i);
      if (lt < 0) fail(`unclosed <${el.name}>`);
      const raw = doc.slice(i, lt);
      if (raw.includes("]]>")) fail("]]> in text");
      el.text += decode(raw);
      i = lt;
      if (doc.startsWith("</", i)) {
        i += 2;
        const closing = name();
        if (closing !== el.name) fail(`</${closing}> closes <${el.name}>`);
        skipSpace();
        if (doc[i] !== ">") fail("expected >");
        i++;
        return el;
      }
      el.children.push(element());
    }
  };
  const root = element();
  skipSpace();
  if (i !== doc.length) fail("content after the root element");
  return root;
}

/** Every element named `name` under `root`, depth first. */
export function findAll(root: XmlElement, name: string): XmlElement[] {
  return [...(root.name === name ? [root] : []), ...root.children.flatMap((c) => findAll(c, name))];
}

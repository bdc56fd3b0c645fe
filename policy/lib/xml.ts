/**
 * A small strict XML reader for libvirt domain and network documents. Strict on purpose: a policy must
 * fail closed, so a document it cannot read is a violation, not a pass (general-purpose parsers repair
 * `<name>x</domain>` silently).
 */

export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  /** Concatenated text content directly inside this element. */
  readonly text: string;
}

const ENTITIES: Readonly<Record<string, string>> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, entity: string) => {
    if (entity.startsWith("#x")) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith("#")) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    const value = ENTITIES[entity];
    if (value === undefined) throw new Error(`unknown entity '${whole}'`);
    return value;
  });
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*/;

/** Parses one XML document; throws `Error` with a short reason on anything malformed. */
export function parseXml(source: string): XmlElement {
  let i = 0;
  const skipMisc = (): void => {
    for (;;) {
      while (/\s/.test(source[i] ?? "")) i++;
      if (source.startsWith("<?", i)) {
        const end = source.indexOf("?>", i);
        if (end < 0) throw new Error("unterminated processing instruction");
        i = end + 2;
      } else if (source.startsWith("<!--", i)) {
        const end = source.indexOf("-->", i);
        if (end < 0) throw new Error("unterminated comment");
        i = end + 3;
      } else return;
    }
  };

  const element = (): XmlElement => {
    if (source[i] !== "<") throw new Error(`expected '<' at offset ${i}`);
    i++;
    const nameMatch = NAME.exec(source.slice(i));
    if (!nameMatch) throw new Error(`bad element name at offset ${i}`);
    const name = nameMatch[0];
    i += name.length;
    const attributes: Record<string, string> = {};
    for (;;) {
      const space = /^\s*/.exec(source.slice(i))![0];
      i += space.length;
      if (source.startsWith("/>", i)) {
        i += 2;
        return { name, attributes, children: [], text: "" };
      }
      if (source[i] === ">") {
        i++;
        break;
      }
      if (space.length === 0) throw new Error(`expected whitespace before attribute in <${name}>`);
      const attr = NAME.exec(source.slice(i));
      if (!attr) throw new Error(`bad attribute in <${name}>`);
      i += attr[0].length;
      const eq = /^\s*=\s*/.exec(source.slice(i));
      if (!eq) throw new Error(`attribute '${attr[0]}' in <${name}> has no value`);
      i += eq[0].length;
      const quote = source[i];
      if (quote !== '"' && quote !== "'") throw new Error(`attribute '${attr[0]}' in <${name}> is not quoted`);
      const end = source.indexOf(quote, i + 1);
      if (end < 0) throw new Error(`unterminated attribute '${attr[0]}' in <${name}>`);
      if (attr[0] in attributes) throw new Error(`duplicate attribute '${attr[0]}' in <${name}>`);
      attributes[attr[0]] = decodeEntities(source.slice(i + 1, end));
      i = end + 1;
    }
    const children: XmlElement[] = [];
    let text = "";
    for (;;) {
      if (i >= source.length) throw new Error(`<${name}> is not closed`);
      if (source.startsWith("</", i)) {
        i += 2;
        const close = NAME.exec(source.slice(i));
        if (!close || close[0] !== name) throw new Error(`<${name}> closed by </${close ? close[0] : "?"}>`);
        i += close[0].length;
        while (/\s/.test(source[i] ?? "")) i++;
        if (source[i] !== ">") throw new Error(`bad closing tag </${name}`);
        i++;
        return { name, attributes, children, text };
      }
      if (source.startsWith("<!--", i)) {
        const end = source.indexOf("-->", i);
        if (end < 0) throw new Error("unterminated comment");
        i = end + 3;
      } else if (source.startsWith("<![CDATA[", i)) {
        const end = source.indexOf("]]>", i);
        if (end < 0) throw new Error("unterminated CDATA section");
        text += source.slice(i + 9, end);
        i = end + 3;
      } else if (source[i] === "<") {
        children.push(element());
      } else {
        const end = source.indexOf("<", i);
        const chunk = source.slice(i, end < 0 ? source.length : end);
        text += decodeEntities(chunk);
        i += chunk.length;
      }
    }
  };

  skipMisc();
  if (source.startsWith("<!DOCTYPE", i)) throw new Error("DOCTYPE is not accepted");
  const root = element();
  skipMisc();
  if (i < source.length) throw new Error(`content after the root element <${root.name}>`);
  return root;
}

/** Every element named `name` in the tree, the root included, in document order. */
export function findAll(root: XmlElement, name: string): XmlElement[] {
  const found: XmlElement[] = [];
  const visit = (e: XmlElement): void => {
    if (e.name === name) found.push(e);
    e.children.forEach(visit);
  };
  visit(root);
  return found;
}

/**
 * Every libvirt `<domain>` or `<network>` document embedded in a text (a prelude value, a here-document):
 * from an opening tag to the first matching closing tag. An opening tag with no closing tag after it is
 * not a document (a `sed` pattern matching `<domain type=...`), and libvirt would refuse it anyway.
 */
export function embeddedDocuments(text: string, rootName: "domain" | "network"): string[] {
  const found: string[] = [];
  const open = new RegExp(`<${rootName}[\\s>]`, "g");
  const close = `</${rootName}>`;
  let m: RegExpExecArray | null;
  while ((m = open.exec(text)) !== null) {
    const end = text.indexOf(close, m.index);
    if (end < 0) break;
    found.push(text.slice(m.index, end + close.length));
    open.lastIndex = end + close.length;
  }
  return found;
}

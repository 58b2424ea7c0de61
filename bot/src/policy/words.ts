// What a shell word means once bash has removed quotes: its literal value when that is known
// before it runs, or a "dynamic" pattern when an expansion decides it. Quoting tricks (`'r''m'`,
// `r\m`, `$'\x72m'`) therefore reduce to the same value as the plain word, and rules can match
// values instead of source text.
import type { Node } from "web-tree-sitter";
import { expandBraces, GlobSyntaxError } from "./glob.ts";

export interface Arg {
  /** The value after quote removal (`$HOME` reads `~`); for a dynamic word, the source text. */
  value: string;
  /** Part of the value is only known when the command runs (parameter, arithmetic or command expansion). */
  dynamic: boolean;
  /** Unquoted `*`, `?` or `[…]`: the shell will replace the word by matching file names. */
  glob: boolean;
  /** When `glob`: one character per value character, `u` for unquoted and `q` for quoted. */
  mask: string | null;
  /** The word as written. */
  text: string;
}

export interface WordResult {
  args: Arg[];
  /** Command and process substitutions inside the word, for the analyser to walk. */
  substitutions: Node[];
}

const SUBSTITUTION_TYPES = new Set(["command_substitution", "process_substitution"]);

class Builder {
  value = "";
  mask = "";
  dynamic = false;
  substitutions: Node[] = [];

  add(text: string, kind: "u" | "q" | "d"): void {
    this.value += text;
    this.mask += kind.repeat(text.length);
  }

  /** An unquoted word: a backslash quotes the next character; backslash-newline disappears. */
  addUnquoted(text: string): void {
    if (!text.includes("\\")) return this.add(text, "u");
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      if (ch === "\\" && i + 1 < text.length) {
        const next = text[++i]!;
        if (next !== "\n") this.add(next, "q");
      } else this.add(ch, "u");
    }
  }

  /** Inside double quotes a backslash only escapes `$`, backquote, `"`, `\` and newline. */
  addDoubleQuoted(text: string): void {
    if (!text.includes("\\")) return this.add(text, "q");
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      const next = text[i + 1];
      if (ch === "\\" && next !== undefined && "$`\"\\\n".includes(next)) {
        i++;
        if (next !== "\n") this.add(next, "q");
      } else this.add(ch, "q");
    }
  }

  addDynamic(node: Node): void {
    const text = node.text;
    // `$HOME` is as well known as `~`, and rules about `~/.ssh` must see it.
    if (/^\$(?:HOME|\{HOME\})$/.test(text)) return this.add("~", "q");
    this.dynamic = true;
    this.add(text, "d");
    collectSubstitutions(node, this.substitutions);
  }
}

/** Finds substitutions below a node without descending into them (the analyser walks their insides). */
export function collectSubstitutions(node: Node, out: Node[]): void {
  if (SUBSTITUTION_TYPES.has(node.type)) {
    out.push(node);
    return;
  }
  for (const child of node.children as Node[]) collectSubstitutions(child, out);
}

function visit(node: Node, b: Builder): void {
  switch (node.type) {
    case "word":
      return b.addUnquoted(node.text);
    case "raw_string":
      return b.add(node.text.slice(1, -1), "q");
    case "ansi_c_string":
      return b.add(decodeAnsiC(node.text.slice(2, -1)), "q");
    case "string":
      return visitString(node, b);
    case "concatenation":
      for (const child of node.children as Node[]) visit(child, b);
      return;
    case "number":
    case "variable_name":
    case "test_operator":
    case "regex":
    case "brace_expression":
    case "special_variable_name":
      return b.add(node.text, "u");
    case "extglob_pattern":
      // Extended globs can match anything; treat the whole word as a glob over everything.
      return b.add("*", "u");
    default:
      // Expansions, substitutions, `$"…"` translations and anything unexpected: known only at run time.
      return b.addDynamic(node);
  }
}

function visitString(node: Node, b: Builder): void {
  let cursor = node.startIndex + 1;
  const base = node.startIndex;
  const text = node.text;
  const kids = node.children as Node[];
  for (let i = 0; i < kids.length; i++) {
    const child = kids[i]!;
    if (child.startIndex > cursor) b.addDoubleQuoted(text.slice(cursor - base, child.startIndex - base));
    cursor = child.endIndex;
    const t = child.type;
    if (t === '"') continue;
    if (t === "string_content") b.addDoubleQuoted(child.text);
    else if (t === "$") b.add("$", "q");
    else b.addDynamic(child);
  }
}

const SIMPLE_ESCAPES: Record<string, string> = {
  a: "\x07", b: "\b", e: "\x1b", E: "\x1b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", "\\": "\\", "'": "'", '"': '"', "?": "?",
};

/** `$'…'` escapes as bash decodes them. */
export function decodeAnsiC(body: string): string {
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch !== "\\" || i + 1 >= body.length) {
      out += ch;
      continue;
    }
    const e = body[++i]!;
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out += simple;
      continue;
    }
    const hex = (max: number) => {
      const m = new RegExp(`^[0-9a-fA-F]{1,${max}}`).exec(body.slice(i + 1));
      if (!m) return null;
      i += m[0].length;
      return parseInt(m[0], 16);
    };
    if (e >= "0" && e <= "7") {
      const m = /^[0-7]{1,3}/.exec(body.slice(i))!;
      i += m[0].length - 1;
      out += String.fromCharCode(parseInt(m[0], 8) & 0xff);
    } else if (e === "x") {
      const v = hex(2);
      out += v === null ? "\\x" : String.fromCharCode(v);
    } else if (e === "u" || e === "U") {
      const v = hex(e === "u" ? 4 : 8);
      out += v === null || v > 0x10ffff ? `\\${e}` : String.fromCodePoint(v);
    } else if (e === "c" && i + 1 < body.length) {
      out += String.fromCharCode(body[++i]!.toUpperCase().charCodeAt(0) & 0x1f);
    } else out += `\\${e}`;
  }
  return out;
}

const GLOB_CHARS = /[*?[]/;

function finish(value: string, mask: string, dynamic: boolean, text: string): Arg {
  let glob = false;
  if (!dynamic) {
    for (let i = 0; i < value.length; i++) {
      if (mask[i] === "u" && GLOB_CHARS.test(value[i]!)) {
        glob = true;
        break;
      }
    }
  }
  return { value, dynamic, glob, mask: glob ? mask : null, text };
}

/**
 * Evaluates one shell word, given as the adjacent nodes that form it (tree-sitter sometimes
 * splits `$"…"` into two siblings). Unquoted braces expand into several words, as in bash.
 */
const NO_SUBSTITUTIONS: Node[] = [];
/** Characters that make a plain word more than its text: escapes, globs, braces. */
const PLAIN_WORD = /^[^\\*?[{]*$/;

export function evaluateWord(nodes: Node[]): WordResult {
  if (nodes.length === 1 && nodes[0]!.type === "word") {
    const text = nodes[0]!.text;
    if (PLAIN_WORD.test(text)) return { args: [{ value: text, dynamic: false, glob: false, mask: null, text }], substitutions: NO_SUBSTITUTIONS };
  }
  const b = new Builder();
  for (const node of nodes) {
    if (node.type === "$") {
      // `$"…"`: a locale translation, whose text comes from a message catalogue at run time.
      b.dynamic = true;
      b.add("$", "d");
    } else visit(node, b);
  }
  const text = nodes.length === 1 ? nodes[0]!.text : nodes.map((n) => n.text).join("");
  if (b.dynamic || !b.mask.includes("u") || !b.value.includes("{")) {
    return { args: [finish(b.value, b.mask, b.dynamic, text)], substitutions: b.substitutions };
  }
  let expanded;
  try {
    expanded = expandBraces(b.value.split("").map((ch, i) => ({ ch, quoted: b.mask[i] !== "u" })));
  } catch (err) {
    if (!(err instanceof GlobSyntaxError)) throw err;
    return { args: [{ value: b.value, dynamic: true, glob: false, mask: null, text }], substitutions: b.substitutions };
  }
  const args = expanded.map((items) =>
    finish(items.map((i) => i.ch).join(""), items.map((i) => (i.quoted ? "q" : "u")).join(""), false, text),
  );
  return { args, substitutions: b.substitutions };
}

/** A static word's single value, or null when it is dynamic, globbed or expands to several words. */
export function staticValue(args: Arg[]): string | null {
  return args.length === 1 && !args[0]!.dynamic && !args[0]!.glob ? args[0]!.value : null;
}

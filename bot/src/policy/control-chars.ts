// Characters that make a command look different from what runs: C0 controls other than tab and
// newline, DEL, C1 controls, bidirectional overrides and isolates, and zero-width characters.
// Finding one is a deny (notes R2); the message names the character and where it is.

const NAMES: Record<number, string> = {
  0x00: "NULL",
  0x07: "BELL",
  0x08: "BACKSPACE",
  0x0b: "LINE TABULATION",
  0x0c: "FORM FEED",
  0x0d: "CARRIAGE RETURN",
  0x15: "NEGATIVE ACKNOWLEDGE (Ctrl-U)",
  0x1b: "ESCAPE",
  0x7f: "DELETE",
  0x061c: "ARABIC LETTER MARK",
  0x200b: "ZERO WIDTH SPACE",
  0x200c: "ZERO WIDTH NON-JOINER",
  0x200d: "ZERO WIDTH JOINER",
  0x200e: "LEFT-TO-RIGHT MARK",
  0x200f: "RIGHT-TO-LEFT MARK",
  0x202a: "LEFT-TO-RIGHT EMBEDDING",
  0x202b: "RIGHT-TO-LEFT EMBEDDING",
  0x202c: "POP DIRECTIONAL FORMATTING",
  0x202d: "LEFT-TO-RIGHT OVERRIDE",
  0x202e: "RIGHT-TO-LEFT OVERRIDE",
  0x2060: "WORD JOINER",
  0x2066: "LEFT-TO-RIGHT ISOLATE",
  0x2067: "RIGHT-TO-LEFT ISOLATE",
  0x2068: "FIRST STRONG ISOLATE",
  0x2069: "POP DIRECTIONAL ISOLATE",
  0xfeff: "ZERO WIDTH NO-BREAK SPACE (BOM)",
};

// One character class, so the common case (nothing found) is a single regex scan.
const FORBIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/u;

export interface ForbiddenChar {
  codePoint: number;
  /** `U+202E` */
  label: string;
  name: string;
  line: number;
  column: number;
  byteOffset: number;
}

export function codePointLabel(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
}

function nameOf(cp: number): string {
  const known = NAMES[cp];
  if (known) return known;
  if (cp < 0x20) return "control character";
  if (cp >= 0x80 && cp <= 0x9f) return "C1 control character";
  return "invisible character";
}

/** The first forbidden character with its 1-based line and column (in code points) and byte offset. */
export function findForbiddenChar(text: string): ForbiddenChar | null {
  const m = FORBIDDEN.exec(text);
  if (!m) return null;
  const before = text.slice(0, m.index);
  const lastNewline = before.lastIndexOf("\n");
  const cp = m[0].codePointAt(0)!;
  return {
    codePoint: cp,
    label: codePointLabel(cp),
    name: nameOf(cp),
    line: before.split("\n").length,
    column: [...before.slice(lastNewline + 1)].length + 1,
    byteOffset: Buffer.byteLength(before, "utf8"),
  };
}

export function describeForbiddenChar(f: ForbiddenChar): string {
  return `${f.label} (${f.name}) at line ${f.line}, column ${f.column} (byte ${f.byteOffset})`;
}

/** Renders text for people with every forbidden character shown as `<U+XXXX>`. */
export function makeVisible(text: string): string {
  return text.replace(new RegExp(FORBIDDEN.source, "gu"), (c) => `<${codePointLabel(c.codePointAt(0)!)}>`);
}

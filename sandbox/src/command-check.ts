// Refuses command text that a person approving it could misread, or that is too long: the same
// rule the approval prompt applies (notes A6 rule 5), checked again here because the runner trusts
// nothing it did not check itself.
import { limits } from "./protocol.ts";

const bidi = new Set([0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069]);

function forbidden(cp: number): boolean {
  if (cp === 0x09 || cp === 0x0a) return false;
  return cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp <= 0x9f) || bidi.has(cp);
}

/** Null when the command may run; otherwise a sentence saying what is wrong and where. */
export function checkCommand(command: string): string | null {
  const bytes = Buffer.byteLength(command, "utf8");
  if (bytes > limits.commandMaxBytes) return `command is ${bytes} bytes; the limit is ${limits.commandMaxBytes}`;
  let index = 0;
  for (const ch of command) {
    const cp = ch.codePointAt(0)!;
    if (forbidden(cp)) {
      const hex = cp.toString(16).toUpperCase().padStart(4, "0");
      return `command contains the control or bidi character U+${hex} at character ${index}; only tab and newline are allowed`;
    }
    if (cp >= 0xd800 && cp <= 0xdfff) return `command contains a lone surrogate at character ${index}`;
    index++;
  }
  return null;
}

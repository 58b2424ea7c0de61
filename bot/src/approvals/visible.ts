// Makes every character an approver could be fooled by visible: C0 controls other than tab and
// newline, DEL, C1 controls, bidi overrides and isolates, zero-width characters and the BOM.
const hidden = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/gu;

export function visibleControlChars(text: string): string {
  return text.replace(hidden, (ch) => `⟨U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}⟩`);
}


/** A markdown code fence longer than any backtick run inside `text`, so the block cannot be closed early. */
export function fenced(text: string, lang = ""): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  return `${fence}${lang}\n${text}\n${fence}`;
}

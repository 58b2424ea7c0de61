// Helpers for showing exactly what will run: hidden characters are made visible by the policy's
// own renderer (one character class decides both what is denied and what is shown).
export { makeVisible as visibleControlChars } from "../policy/control-chars.ts";

/** A markdown code fence longer than any backtick run inside `text`, so the block cannot be closed early. */
export function fenced(text: string, lang = ""): string {
  // A loop, not Math.max(...runs): a text of a few hundred thousand runs would overflow the stack.
  let longest = 0;
  for (const run of text.matchAll(/`+/g)) longest = Math.max(longest, run[0].length);
  const fence = "`".repeat(Math.max(3, longest + 1));
  return `${fence}${lang}\n${text}\n${fence}`;
}

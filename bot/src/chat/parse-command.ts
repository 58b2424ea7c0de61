// `!name rest` → { name, args }. Only `!` followed by a letter is a command, so "!!" or "! hi"
// stay ordinary chat. Names are case-insensitive.
export interface ParsedCommand {
  name: string;
  args: string;
}

export function parseCommand(body: string): ParsedCommand | null {
  const m = /^!([A-Za-z][\w-]*)(?:\s+([\s\S]*))?$/.exec(body.trim());
  if (!m) return null;
  return { name: m[1]!.toLowerCase(), args: (m[2] ?? "").trim() };
}

// The foreground process group of a pane's terminal: field 8 (tpgid) of /proc/<pane_pid>/stat.
// That group is what Ctrl-C reaches, so it is what the interrupt ladder signals next (notes A3).
import { readFileSync } from "node:fs";

export function foregroundGroup(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // comm (field 2) may contain spaces and parentheses: count fields after the last ')'
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const tpgid = Number(fields[5]);
  return Number.isInteger(tpgid) && tpgid > 0 ? tpgid : null;
}

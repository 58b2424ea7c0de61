// The result of a run as posted in the prompt's thread (notes R19, A4): status, exit code,
// duration and cwd, then the output's head and tail; the whole log goes up as a file when the
// runner had to cut it. Pure.
import type { ExecResult } from "@pocketcoder/sandbox/protocol";
import type { ExecutionResult } from "../ledger/ledger.ts";
import { formatDuration } from "./prompt-state.ts";
import { fenced, visibleControlChars } from "./visible.ts";

/** What the ledger records of a runner result. */
export function ledgerResult(r: ExecResult): ExecutionResult {
  return {
    exitCode: r.status === "exited" ? r.exitCode : null,
    durationMs: r.durationMs,
    timedOut: r.status === "timed_out",
    outputSha256: r.outputSha256,
    outputBytes: r.outputBytes,
    truncated: r.truncated,
  };
}

function status(r: ExecResult): string {
  switch (r.status) {
    case "exited":
      return r.exitCode === 0 ? "✅ exit 0" : `✖️ exit ${r.exitCode ?? "?"}`;
    case "timed_out":
      return "⏱ timed out";
    case "cancelled":
      return `⏹ cancelled${r.exitCode !== null ? ` (exit ${r.exitCode})` : ""}`;
    case "shell_died":
      return "💥 the shell died";
    case "lost":
      return "❓ lost track of the command";
    case "refused":
      return "⛔ refused by the runner";
  }
}

/** Characters of output kept at each end in chat: with UTF-8 and encryption's base64 the event stays
 * well under Matrix's 64 KiB limit, whatever the runner's own head/tail limit is. */
export const inlineChars = 4000;

const bytes = (s: string) => Buffer.byteLength(s, "utf8");

/** Cuts `s` to its first (or last) `n` characters without splitting a surrogate pair. */
function keep(s: string, n: number, end: "head" | "tail"): string {
  if (s.length <= n) return s;
  if (end === "head") return s.slice(0, /[\uDC00-\uDFFF]/.test(s[n] ?? "") ? n - 1 : n);
  const from = s.length - n;
  return s.slice(/[\uDC00-\uDFFF]/.test(s[from] ?? "") ? from + 1 : from);
}

/** The output as shown in chat: head and tail, and whether anything was left out. */
export function shownOutput(r: Pick<ExecResult, "head" | "tail" | "truncated" | "omittedBytes">): { text: string; cut: boolean } {
  if (!r.truncated && r.head.length + r.tail.length <= 2 * inlineChars) return { text: r.head + r.tail, cut: false };
  const whole = r.truncated ? null : r.head + r.tail;
  const head = keep(whole ?? r.head, inlineChars, "head");
  const tail = keep(whole ?? r.tail, inlineChars, "tail");
  const omitted = whole !== null ? bytes(whole) - bytes(head) - bytes(tail) : r.omittedBytes + bytes(r.head) - bytes(head) + bytes(r.tail) - bytes(tail);
  return { text: `${head.replace(/\n$/, "")}\n[… ${omitted} bytes omitted …]\n${tail}`, cut: true };
}

/** The thread message for a finished run, and whether the whole log should be attached. */
export function renderResult(code: string, r: ExecResult): { markdown: string; attachLog: boolean } {
  const head = `**Result** · code \`${code}\` · ${status(r)} · ${formatDuration(r.durationMs)}${r.cwd ? ` · cwd \`${visibleControlChars(r.cwd)}\`` : ""}`;
  if (r.outputBytes === 0 && !r.head && !r.tail) return { markdown: `${head}\n\n(no output)`, attachLog: false };
  const { text, cut } = shownOutput(r);
  const file = cut ? `\n\nThe whole output (${r.outputBytes} bytes, sha256 \`${r.outputSha256.slice(0, 16)}…\`) is attached.` : "";
  return { markdown: `${head}\n\n${fenced(visibleControlChars(text.replace(/\n$/, "")), "text")}${file}`, attachLog: cut };
}

/** The refusal the runner reported for a granted call (the shim's exec did not match the grant). */
export function renderRefusal(code: string, message: string): string {
  return `**Result** · code \`${code}\` · ⛔ the sandbox refused to run it: ${message}`;
}

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

export function renderResult(code: string, r: ExecResult): string {
  const head = `**Result** · code \`${code}\` · ${status(r)} · ${formatDuration(r.durationMs)}${r.cwd ? ` · cwd \`${visibleControlChars(r.cwd)}\`` : ""}`;
  if (r.outputBytes === 0 && !r.head && !r.tail) return `${head}\n\n(no output)`;
  const body = r.truncated ? `${r.head.replace(/\n$/, "")}\n[… ${r.omittedBytes} bytes omitted …]\n${r.tail}` : r.head + r.tail;
  const file = r.truncated ? `\n\nThe whole output (${r.outputBytes} bytes, sha256 \`${r.outputSha256.slice(0, 16)}…\`) is attached.` : "";
  return `${head}\n\n${fenced(visibleControlChars(body.replace(/\n$/, "")), "text")}${file}`;
}

/** The refusal the runner reported for a granted call (the shim's exec did not match the grant). */
export function renderRefusal(code: string, message: string): string {
  return `**Result** · code \`${code}\` · ⛔ the sandbox refused to run it: ${message}`;
}

// The approval prompt at each step of a request's life (notes R19): pending with the votes so far,
// decided (who, when), running, finished. Builds on prompt.ts; rendering only.
import type { ApprovalRequest, ExecutionRecord } from "../ledger/ledger.ts";
import { type Outcome, type PromptRequest, renderOutcome, renderPrompt } from "./prompt.ts";
import { diffPath } from "./request-input.ts";
import type { Tally } from "./tally.ts";

/** Who moved the request out of pending, as recorded in the ledger's transition detail. */
export interface Decision {
  by: string[];
  at: number;
  reason: string | null;
}

export type PromptState =
  | { kind: "pending"; tally: Pick<Tally, "approvers" | "deniers" | "ignored"> }
  | { kind: "decided"; decision: Decision | null; execution: ExecutionRecord | null };

/** What the prompt shows besides the request itself. */
export interface PromptExtras {
  mentions: string[];
  alwaysPossible: boolean;
}

export function promptRequestOf(req: ApprovalRequest, extras: PromptExtras): PromptRequest {
  const base = {
    code: req.code,
    tool: req.tool,
    project: req.project,
    cwd: req.cwd,
    rule: req.rule,
    risk: req.risk,
    requester: req.requester,
    expiresAt: req.expiresAt,
    spec: req.approval,
    approverMentions: extras.mentions,
    alwaysPossible: extras.alwaysPossible,
  };
  if (req.inputKind === "command") return { ...base, command: req.input };
  if (req.inputKind === "diff") return { ...base, path: diffPath(req.input) ?? "(unnamed file)", diff: req.input };
  return { ...base, command: req.input };
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19) + " UTC";
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

function progress(req: ApprovalRequest, t: Pick<Tally, "approvers" | "deniers" | "ignored">): string {
  const lines: string[] = [];
  if (t.approvers.length) lines.push(`So far ${t.approvers.length} of ${req.approval.quorum}: ${t.approvers.join(", ")}.`);
  if (t.deniers.length) lines.push(`Denials: ${t.deniers.join(", ")}.`);
  for (const i of t.ignored) lines.push(`Not counted: ${i.voter} (${i.why}).`);
  return lines.join("\n");
}

function executionLine(req: ApprovalRequest, e: ExecutionRecord | null): string {
  const verb = req.tool === "bash" ? "Running" : "Applying";
  if (req.state === "dispatching") return `\n\n⏳ Handed to the ${req.tool === "bash" ? "sandbox" : "agent"}…`;
  if (req.state === "running") return `\n\n▶️ ${verb} since ${clock(e?.startedAt ?? req.stateChangedAt)}…`;
  if (!e || e.endedAt === null) return "";
  const took = e.durationMs !== null ? ` after ${formatDuration(e.durationMs)}` : "";
  const where = req.tool === "bash" ? " Output in the thread." : "";
  if (req.state === "timed_out") return `\n\n⏱ Timed out${took}.${where}`;
  if (req.state === "succeeded") return `\n\n🏁 Done: ${req.tool === "bash" ? "exit 0" : "applied"}${took}.${where}`;
  if (req.state === "failed") return `\n\n✖️ Failed${e.exitCode !== null ? `: exit ${e.exitCode}` : ""}${took}.${where}`;
  return "";
}

export function renderPromptState(req: ApprovalRequest, extras: PromptExtras, state: PromptState, now: number): string {
  const pr = promptRequestOf(req, extras);
  if (state.kind === "pending") {
    const p = progress(req, state.tally);
    return renderPrompt(pr, now) + (p ? `\n\n${p}` : "");
  }
  const d = state.decision;
  const at = d?.at ?? req.stateChangedAt;
  const tally: Tally = { outcome: "pending", approvers: d?.by ?? [], deniers: d?.by ?? [], ignored: [], alwaysBy: [] };
  let outcome: Outcome;
  switch (req.state) {
    case "pending":
      return renderPrompt(pr, now);
    case "denied":
      outcome = { kind: "denied", tally, at, ...(d?.reason ? { reason: d.reason } : {}) };
      break;
    case "expired":
      outcome = { kind: "expired", at };
      break;
    case "cancelled":
      outcome = { kind: "cancelled", at, by: d?.by.join(", ") || "the bot", ...(d?.reason ? { reason: d.reason } : {}) };
      break;
    case "unknown":
      return `${renderOutcome(pr, { kind: "approved", tally, at })}\n\n${renderOutcome(pr, { kind: "unknown", at: req.stateChangedAt }).split("\n\n").at(-1)}`;
    default:
      outcome = { kind: "approved", tally, at };
  }
  return renderOutcome(pr, outcome) + executionLine(req, state.execution);
}

// Renders the approval prompt and its outcome as markdown. Rendering only: the engine decides.
import type { ApprovalSpec, Tally } from "./tally.ts";
import { fenced, visibleControlChars } from "./visible.ts";

export interface PromptRequest {
  code: string;
  tool: string;
  /** The exact command for bash; for edits the file path. */
  command?: string;
  path?: string;
  diff?: string;
  project: string;
  cwd: string;
  rule: string | null;
  risk: string | null;
  requester: string;
  expiresAt: number;
  spec: ApprovalSpec;
  /** Users to mention so their clients notify them. */
  approverMentions: string[];
  /** An approval may also create a standing rule (🔁 / `!always`). */
  alwaysPossible?: boolean;
}

export const APPROVE = "✅";
export const DENY = "❌";
export const ALWAYS = "🔁";

const DIFF_PREVIEW_LINES = 60;
/** Also a cap on the preview's size, for diffs of a few very long lines. */
const DIFF_PREVIEW_CHARS = 8_000;

/** The part of a diff a prompt shows, and whether that is all of it (when not, the whole diff is
 * attached in the prompt's thread as `diffFileName`). */
export function diffPreview(diff: string): { text: string; whole: boolean; moreLines: number } {
  const lines = diff.split("\n");
  let text = lines.slice(0, DIFF_PREVIEW_LINES).join("\n");
  if (text.length > DIFF_PREVIEW_CHARS) text = `${text.slice(0, DIFF_PREVIEW_CHARS)}…`;
  const whole = text === diff;
  return { text, whole, moreLines: whole ? 0 : lines.length - text.split("\n").length };
}

export function diffFileName(code: string): string {
  return `${code}.diff`;
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16) + " UTC";
}

function minutesFrom(now: number, then: number): string {
  const minutes = Math.max(0, Math.round((then - now) / 60_000));
  return minutes < 120 ? `${minutes} min` : `${Math.round(minutes / 60)} h`;
}

export function whoMayApprove(spec: ApprovalSpec): string {
  const who: string[] = [];
  if (spec.users?.length) who.push(spec.users.join(", "));
  if (spec.minPowerLevel !== undefined) who.push(`anyone with power level ≥ ${spec.minPowerLevel}`);
  if (who.length === 0) who.push("any member of this room");
  const others = spec.coRequesters?.length ? ` nor those of ${spec.coRequesters.join(", ")}, who also spoke in this turn` : "";
  const self = spec.selfApproval ? "" : `; the requester's own vote does not count${others}`;
  const count = spec.quorum === 1 ? "1 approval" : `${spec.quorum} approvals from different people`;
  return `${count} from ${who.join(" or ")}${self}`;
}

function what(req: PromptRequest): string {
  if (req.command !== undefined) return fenced(visibleControlChars(req.command), req.tool === "bash" ? "sh" : "");
  const file = `file \`${visibleControlChars(req.path ?? "?")}\``;
  if (!req.diff) return file;
  const preview = diffPreview(req.diff);
  const rest = preview.moreLines > 0 ? `${preview.moreLines} more lines` : "the rest";
  const more = preview.whole ? "" : `\n… ${rest}: the whole diff is in the thread as \`${diffFileName(req.code)}\`; read it before you approve.`;
  return `${file}\n${fenced(visibleControlChars(preview.text), "diff")}${more}`;
}

export function renderPrompt(req: PromptRequest, now: number): string {
  const strict = req.spec.strict
    ? `Strict rule: only an encrypted \`!approve ${req.code}\` from a cross-signed device counts; reactions do not.`
    : `React ${APPROVE} to approve, ${DENY} to deny${req.alwaysPossible ? `, ${ALWAYS} to always allow this command here for a day` : ""}; or reply \`!approve ${req.code}\` / \`!deny ${req.code} reason\`.`;
  return [
    `**Approval needed** · code \`${req.code}\``,
    `**${req.tool}** in project \`${req.project}\`, cwd \`${visibleControlChars(req.cwd)}\`, asked for by ${req.requester}`,
    what(req),
    `Why: rule \`${req.rule ?? "default"}\`, risk ${req.risk ?? "unknown"}`,
    `Who: ${whoMayApprove(req.spec)}${req.approverMentions.length ? ` (${req.approverMentions.join(", ")})` : ""}`,
    `Expires at ${clock(req.expiresAt)} (in ${minutesFrom(now, req.expiresAt)})`,
    strict,
  ].join("\n\n");
}

export type Outcome =
  | { kind: "approved"; tally: Tally; at: number }
  | { kind: "denied"; tally: Tally; at: number; reason?: string }
  | { kind: "expired"; at: number }
  | { kind: "cancelled"; at: number; by: string; reason?: string }
  | { kind: "unknown"; at: number };

export function renderOutcome(req: PromptRequest, outcome: Outcome): string {
  const head = `~~Approval needed~~ · code \`${req.code}\` · **${req.tool}**\n\n${what(req)}`;
  const at = clock(outcome.at);
  switch (outcome.kind) {
    case "approved":
      return `${head}\n\n${APPROVE} Approved by ${outcome.tally.approvers.join(", ")} at ${at}.`;
    case "denied":
      return `${head}\n\n${DENY} Denied by ${outcome.tally.deniers.join(", ")} at ${at}${outcome.reason ? `: ${outcome.reason}` : "."}`;
    case "expired":
      return `${head}\n\n⌛ Expired at ${at} without enough approvals; the agent was told.`;
    case "cancelled":
      return `${head}\n\n⏹ Cancelled by ${outcome.by} at ${at}${outcome.reason ? `: ${outcome.reason}` : "."}`;
    case "unknown":
      return `${head}\n\n⚠️ The bot stopped while this was being dispatched (${at}); it was not run again. Check the sandbox.`;
  }
}

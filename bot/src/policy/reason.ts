// The `reason` of a decision: one or two sentences for the person approving and for the agent,
// saying what was found and what to do next.
import type { Approval } from "./compile.ts";
import type { Decision, Verdict } from "./evaluate.ts";
import { formatDuration } from "./duration.ts";
import type { Floor } from "./model.ts";

function quote(text: string): string {
  const short = text.length > 100 ? `${text.slice(0, 97)}…` : text;
  return `\`${short}\``;
}

function ruleText(v: Verdict): string {
  const r = v.rule!;
  return r.spec.description ? `rule "${r.id}" (${r.spec.description})` : `rule "${r.id}"`;
}

export function approversText(a: Approval): string {
  const who: string[] = [];
  if (a.users) who.push(a.users.join(", "));
  if (a.minPowerLevel !== undefined) who.push(`anyone with power level ≥ ${a.minPowerLevel}`);
  const people = who.join(" or ") || "any room member";
  const count = a.quorum === 1 ? "1 approval" : `${a.quorum} approvals from different people`;
  const self = a.selfApproval ? "" : ", not counting the requester";
  const strict = a.strict ? ", each an encrypted !approve from a verified device" : "";
  return `Needs ${count} (${people}${self}${strict}) within ${formatDuration(a.expiresInMs)}.`;
}

function describe(v: Verdict): string {
  if (v.standing) return `${quote(v.text)} matches standing rule ${v.standing.id} (always allow \`${v.standing.argvPrefix.join(" ")}\`)`;
  if (v.floor) return `${quote(v.text)}: ${v.floor.why}`;
  if (v.rule) return `${quote(v.text)} matches ${ruleText(v)}`;
  return `${quote(v.text)} matches no rule`;
}

export function buildReason(d: Decision, top: Verdict, verdicts: Verdict[], floors: Floor[]): string {
  const message = top.rule?.spec.message ? ` ${top.rule.spec.message}` : "";
  if (d.decision === "deny") {
    if (top.floor?.id === "control-character")
      return `Denied: ${top.floor.why}. Such characters can make a command look different from what runs; remove it and try again.`;
    return `Denied: ${describe(top)}.${message || " Do not retry it; use another way, or ask the user to do it themselves."}`;
  }
  if (d.decision === "ask") {
    const others = verdicts.filter((v) => v !== top && v.decision === "ask" && !(v.floor && floors.includes(v.floor))).length;
    const more = others ? ` (${others} more part${others === 1 ? "" : "s"} also need${others === 1 ? "s" : ""} approval)` : "";
    const why = top.rule ? describe(top) : top.floor ? describe(top) : `${describe(top)}, so it needs approval`;
    return `Needs approval: ${why}${more}.${message} ${approversText(d.approval!)} Wait for the decision; if it is rejected, do not retry the same command.`;
  }
  if (verdicts.length === 1) return `Allowed: ${describe(top)}.`;
  const rules = [...new Set(verdicts.map((v) => v.standing ? `standing:${v.standing.id}` : v.rule?.id).filter((r): r is string => !!r))];
  return `Allowed: all ${verdicts.length} parts are allowed${rules.length ? ` (${rules.map((r) => `"${r}"`).join(", ")})` : ""}.`;
}

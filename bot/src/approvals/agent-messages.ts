// What the agent reads when a permission is rejected (notes R20). Written for the agent: what
// happened, who decided, and what it can do next, so the turn continues sensibly.
import type { ApprovalRequest } from "../ledger/ledger.ts";

function what(req: ApprovalRequest): string {
  return req.tool === "bash" ? "The command" : `The ${req.tool} call`;
}

export function deniedByPeople(req: ApprovalRequest, deniers: string[], reason: string | null): string {
  const by = deniers.length ? ` by ${deniers.join(", ")}` : "";
  const why = reason ? ` Their reason: ${reason}.` : "";
  return `${what(req)} was rejected${by} (request ${req.code}).${why} It did not run. Do not retry the same call; take the reason into account, try a different approach, or ask the user in your reply.`;
}

export function deniedByPolicy(reason: string): string {
  return `Rejected by PocketCoder's policy, without asking anyone. ${reason}`;
}

export function expired(req: ApprovalRequest, minutes: number): string {
  return `Expired: nobody approved ${what(req).toLowerCase()} within ${minutes} min (request ${req.code}), so it did not run. Do not retry it on your own; tell the user it is waiting for approval and continue with what you can do without it.`;
}

export function cancelled(req: ApprovalRequest, by: string, reason: string): string {
  return `Cancelled by ${by}: ${reason} (request ${req.code}). ${what(req)} did not run. Stop and wait for the user's next message.`;
}

export function unreviewable(why: string): string {
  return `Rejected: ${why}. Nothing ran. Split the change into smaller steps that a person can review.`;
}

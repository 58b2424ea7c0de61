// Counts the votes on one approval request. Pure: the caller supplies the room's view at decision
// time (membership and power levels), so the same votes give the same outcome wherever counted.
import type { ApprovalSpec } from "../ledger/schemas.ts";

export type { ApprovalSpec };

export interface Vote {
  eventId: string;
  voter: string;
  decision: "approve" | "deny" | "always";
  via: "reaction" | "command";
  /** The vote arrived encrypted and decrypted from a device cross-signed by its owner. */
  verifiedDevice: boolean;
}

export interface RoomView {
  isJoined(userId: string): boolean;
  powerLevel(userId: string): number;
}

export interface TallyInput {
  spec: ApprovalSpec;
  requester: string;
  botUserId: string;
  votes: Vote[];
  room: RoomView;
}

export interface Tally {
  outcome: "approved" | "denied" | "pending";
  approvers: string[];
  deniers: string[];
  /** Votes set aside, each with the reason, so the prompt can tell people why theirs did not count. */
  ignored: { voter: string; eventId: string; why: string }[];
  /** An eligible approver asked for a standing rule. */
  alwaysBy: string[];
}

/** Why this vote does not count, or null when it does. The requester may always deny their own
 * request (notes R17: the requester can cancel); self-approval only limits approving it. */
export function eligibility(spec: ApprovalSpec, input: Pick<TallyInput, "requester" | "botUserId" | "room">, vote: Pick<Vote, "voter" | "decision">): string | null {
  const { voter } = vote;
  if (voter === input.botUserId) return "the bot never votes";
  if (!input.room.isJoined(voter)) return "not a member of the room";
  if (voter === input.requester || spec.coRequesters?.includes(voter)) {
    if (vote.decision === "deny") return null;
    if (!spec.selfApproval) return "the requester may not approve their own request";
  }
  const listed = spec.users?.includes(voter) ?? false;
  const powerful = spec.minPowerLevel !== undefined && input.room.powerLevel(voter) >= spec.minPowerLevel;
  const anyPowerLevel = spec.minPowerLevel === undefined && spec.users === undefined;
  if (listed || powerful || anyPowerLevel) return null;
  if (spec.minPowerLevel !== undefined) return `power level ${input.room.powerLevel(voter)} is below ${spec.minPowerLevel}`;
  return "not on the approver list";
}

export function tally(input: TallyInput): Tally {
  const { spec } = input;
  const approvers = new Set<string>();
  const deniers = new Set<string>();
  const alwaysBy = new Set<string>();
  const ignored: Tally["ignored"] = [];
  for (const vote of input.votes) {
    const why = eligibility(spec, input, vote) ?? strictness(spec, vote);
    if (why) {
      ignored.push({ voter: vote.voter, eventId: vote.eventId, why });
      continue;
    }
    if (vote.decision === "deny") deniers.add(vote.voter);
    else {
      approvers.add(vote.voter);
      if (vote.decision === "always") alwaysBy.add(vote.voter);
    }
  }
  // A person who both approved and denied counts as a denial: the safer reading.
  for (const d of deniers) approvers.delete(d);
  const outcome = deniers.size >= (spec.denyQuorum ?? 1) ? "denied" : approvers.size >= spec.quorum ? "approved" : "pending";
  return { outcome, approvers: [...approvers], deniers: [...deniers], ignored, alwaysBy: [...alwaysBy].filter((u) => approvers.has(u)) };
}

function strictness(spec: ApprovalSpec, vote: Vote): string | null {
  if (!spec.strict || vote.decision === "deny") return null;
  if (vote.via !== "command") return "this rule is strict: approve with an encrypted !approve CODE, not a reaction";
  if (!vote.verifiedDevice) return "this rule is strict: the vote must come from a device cross-signed by its owner";
  return null;
}

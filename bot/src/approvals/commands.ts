// The approval commands for the chat command table: `!approve CODE`, `!deny CODE [reason]`,
// `!always CODE`, `!rules` and `!revoke ID`. Votes by command carry the message's authenticity
// (encrypted, from a cross-signed device), which strict rules require.
import { type Command, type CommandContext, defineCommand } from "../chat/command.ts";
import type { ApprovalRequest, Ledger, StandingRuleRecord } from "../ledger/ledger.ts";
import { maxVoteReasonChars } from "../ledger/schemas.ts";
import type { VoteRefusal } from "../ledger/votes.ts";
import type { RoomState, VoteAuth } from "./ports.ts";

/** One vote as cast, by reaction or by command. */
export interface CastVote {
  eventId: string;
  roomId: string;
  voter: string;
  via: "reaction" | "command";
  decision: "approve" | "deny" | "always";
  reason: string | null;
  encrypted: boolean;
  verifiedDevice: boolean;
  device: string | null;
  originTs: number;
}

export type VoteResult =
  | { kind: "refused"; reason: VoteRefusal; state: string | null }
  | { kind: "ignored"; why: string }
  | { kind: "counted"; outcome: "approved" | "denied" | "pending"; approvals: number; quorum: number };

export interface CommandDeps {
  ledger: Ledger;
  voteAuth(roomId: string, eventId: string): Promise<VoteAuth>;
  roomState(roomId: string): RoomState;
  vote(req: ApprovalRequest, vote: CastVote): Promise<VoteResult>;
}

/** Power level that may revoke anyone's standing rule (room moderators); creators may revoke their own. */
const revokePowerLevel = 50;

function eventIdOf(ctx: CommandContext): string {
  // Fail closed: without the event id a vote cannot be recorded, withdrawn or authenticated.
  if (typeof ctx.eventId !== "string" || ctx.eventId === "") throw new Error("approval commands need the invoking event's id in their context (eventId)");
  return ctx.eventId;
}

function describe(code: string, decision: CastVote["decision"], r: VoteResult): string {
  switch (r.kind) {
    case "ignored":
      return `Your vote on \`${code}\` was recorded but does not count: ${r.why}.`;
    case "refused":
      if (r.reason === "not_pending") return `Too late: \`${code}\` is already ${r.state}; your vote changed nothing.`;
      if (r.reason === "expired") return `Too late: \`${code}\` has expired; your vote changed nothing.`;
      if (r.reason === "already_voted") return `You already voted on \`${code}\`; remove (redact) your earlier vote first to change it.`;
      if (r.reason === "wrong_room") return `\`${code}\` belongs to another room; vote there.`;
      if (r.reason === "duplicate_event") return `That vote on \`${code}\` was already counted.`;
      return `No request has the code \`${code}\`.`;
    case "counted":
      if (r.outcome === "approved") return `Approved \`${code}\`${decision === "always" ? " (and asked for a standing rule)" : ""}.`;
      if (r.outcome === "denied") return `Denied \`${code}\`; the agent was told.`;
      return decision === "deny"
        ? `Your denial of \`${code}\` is recorded.`
        : `Your approval of \`${code}\` counts: ${r.approvals} of ${r.quorum}.`;
  }
}

/** A denial must not be lost to its reason's form: cut to what the ledger keeps, and any lone
 * surrogate (which the ledger refuses) replaced. */
function fitReason(reason: string): string {
  const whole = reason.toWellFormed();
  return whole.length <= maxVoteReasonChars ? whole : `${whole.slice(0, maxVoteReasonChars - 1)}…`.toWellFormed();
}

function voteCommand(deps: CommandDeps, name: "approve" | "deny" | "always", usage: string, summary: string): Command {
  return defineCommand<string>({
    name,
    usage,
    summary,
    async execute(ctx) {
      const [code, ...rest] = ctx.args.split(/\s+/).filter(Boolean);
      if (!code) return `Usage: \`${usage}\``;
      const req = deps.ledger.byCode(code);
      if (!req || req.room !== ctx.roomId) return `No request in this room has the code \`${code.toUpperCase()}\`.`;
      const eventId = eventIdOf(ctx);
      const auth = await deps.voteAuth(ctx.roomId, eventId);
      const reason = name === "deny" && rest.length ? fitReason(rest.join(" ")) : null;
      const decision = name;
      const result = await deps.vote(req, {
        eventId,
        roomId: ctx.roomId,
        voter: ctx.sender,
        via: "command",
        decision,
        reason,
        encrypted: auth.encrypted,
        verifiedDevice: auth.verifiedDevice,
        device: auth.device,
        originTs: ctx.sentAt,
      });
      return describe(req.code, decision, result);
    },
    render: (text) => text,
  });
}

function ruleLine(r: StandingRuleRecord): string {
  const until = r.expiresAt ? ` until ${new Date(r.expiresAt).toISOString().slice(0, 16).replace("T", " ")} UTC` : "";
  return `- \`${r.id.slice(0, 8)}\` ${r.tool} \`${r.argvPrefix.join(" ")}\`${until}, set by ${r.createdBy}`;
}

export function approvalCommands(deps: CommandDeps): Command[] {
  return [
    voteCommand(deps, "approve", "!approve CODE", "approve a pending request (the only vote strict rules accept, from a verified device)"),
    voteCommand(deps, "deny", "!deny CODE [reason]", "deny a pending request; the reason goes to the agent"),
    voteCommand(deps, "always", "!always CODE", "approve, and let the same command run without asking in this room for a day"),
    defineCommand<StandingRuleRecord[]>({
      name: "rules",
      usage: "!rules",
      summary: "list the standing \"always allow\" rules in force in this room",
      execute: (ctx) => deps.ledger.listStandingRules({ at: ctx.now(), room: ctx.roomId }),
      render: (rules) => (rules.length ? ["**Standing rules**", ...rules.map(ruleLine)].join("\n") : "No standing rules are in force in this room."),
    }),
    defineCommand<string>({
      name: "revoke",
      usage: "!revoke ID",
      summary: "end a standing rule (its creator, or power level ≥ 50)",
      execute: (ctx) => {
        const prefix = ctx.args.trim().toLowerCase();
        if (prefix.length < 6) return "Usage: `!revoke ID` with at least the first 6 characters of the rule's id (see `!rules`).";
        const matches = deps.ledger.listStandingRules({ at: ctx.now(), room: ctx.roomId }).filter((r) => r.id.startsWith(prefix));
        if (matches.length !== 1) return matches.length ? `\`${prefix}\` matches ${matches.length} rules; give more of the id.` : `No rule in force here has an id starting with \`${prefix}\`.`;
        const rule = matches[0]!;
        if (rule.createdBy !== ctx.sender && deps.roomState(ctx.roomId).powerLevel(ctx.sender) < revokePowerLevel) {
          return `Only ${rule.createdBy} or someone with power level ≥ ${revokePowerLevel} may revoke rule \`${prefix}\`.`;
        }
        return deps.ledger.revokeStandingRule(rule.id, ctx.sender) ? `Revoked rule \`${rule.id.slice(0, 8)}\`; \`${rule.argvPrefix.join(" ")}\` asks again.` : `Rule \`${prefix}\` was already revoked.`;
      },
      render: (text) => text,
    }),
  ];
}

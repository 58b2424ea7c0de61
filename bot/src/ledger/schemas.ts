// The shapes that cross the ledger's boundary: what callers hand in (validated here, with errors
// naming the field) and what they get back.
import { z } from "zod";
import type { RequestState } from "./request-states.ts";

export class LedgerInputError extends Error {
  override name = "LedgerInputError";
}

/** Validates `value`; the error names the call and the field, e.g. "createRequest: approval.quorum: …". */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown, call: string, root = "input"): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.length ? issue.path.join(".") : root;
  throw new LedgerInputError(`${call}: ${field}: ${issue.message}`);
}

// A lone surrogate would be stored as U+FFFD, so stored text would no longer match its hash.
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !loneSurrogate.test(s), "must be well-formed Unicode");
const name = (max = 512) => text(max).min(1, "must not be empty");
/** The longest reason a vote keeps; `!deny` fits longer ones to it rather than lose the denial. */
export const maxVoteReasonChars = 4096;
export const AuditActor = name();
export const AuditEventName = z
  .string()
  .max(128)
  .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/, "an event name is dotted lower-case words, e.g. policy.load");
const ms = z.number().int().nonnegative();
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hex digits");

/** Who may approve and how many must: the policy rule's `ask` settings, frozen into the request. */
export const ApprovalSpec = z.object({
  quorum: z.number().int().min(1).max(100),
  /** Eligible with at least this room power level. */
  minPowerLevel: z.number().int().optional(),
  /** Eligible when listed (either condition suffices when both are given). */
  users: z.array(name()).optional(),
  /** The requester's own vote counts. */
  selfApproval: z.boolean(),
  /** Only an encrypted `!approve CODE` from a cross-signed device counts. */
  strict: z.boolean(),
  /** Eligible denials needed to deny; one when absent. */
  denyQuorum: z.number().int().min(1).max(100).optional(),
  /** Others who spoke in the turn that asked for this. Any of them may have caused it, so they
   * count as requesters: without self-approval their approvals do not count (notes R5). */
  coRequesters: z.array(name()).max(100).optional(),
});
export type ApprovalSpec = z.infer<typeof ApprovalSpec>;

export const InputKind = z.enum(["command", "diff", "arguments"]);
export type InputKind = z.infer<typeof InputKind>;

export const NewRequest = z.object({
  tool: name(256),
  /** `command` for bash, `diff` for edits and writes, `arguments` (canonical JSON) for other tools. */
  inputKind: InputKind,
  /** Exactly what will run or change. */
  input: text(1_048_576),
  cwd: name(4096),
  /** Matrix room id the request was raised in. */
  room: name(),
  project: name(),
  /** OpenCode session id, permission request id and tool call id. */
  sessionId: name(),
  permissionId: name(),
  callId: name().nullable().default(null),
  /** The person whose turn produced the request (not the agent). */
  requester: name(),
  requesterDevice: name().nullable().default(null),
  /** The policy rule that asked, and its risk label. */
  rule: name().nullable(),
  risk: name(128),
  policyHash: name(128),
  approval: ApprovalSpec,
  /** Absolute time (ms since the epoch, bot clock) after which the request expires. */
  expiresAt: ms,
});
export type NewRequest = z.input<typeof NewRequest>;

export interface ApprovalRequest {
  id: string;
  /** Six characters people type in `!approve CODE`; unique among pending requests. */
  code: string;
  contentHash: string;
  tool: string;
  inputKind: InputKind;
  input: string;
  cwd: string;
  room: string;
  project: string;
  sessionId: string;
  permissionId: string;
  callId: string | null;
  requester: string;
  requesterDevice: string | null;
  rule: string | null;
  risk: string;
  policyHash: string;
  approval: ApprovalSpec;
  promptEventId: string | null;
  createdAt: number;
  expiresAt: number;
  state: RequestState;
  stateChangedAt: number;
}

export const VoteDecision = z.enum(["approve", "deny", "always"]);
export type VoteDecision = z.infer<typeof VoteDecision>;

export const NewVote = z.object({
  requestId: name(),
  /** The Matrix event that carried the vote (reaction or `!approve` / `!deny` message). */
  eventId: name(),
  /** The room the vote event arrived in; a vote from any other room than the request's is refused. */
  room: name(),
  voter: name(),
  device: name().nullable().default(null),
  via: z.enum(["reaction", "command"]),
  /** The event arrived encrypted. */
  encrypted: z.boolean(),
  /** It decrypted as sent from a device cross-signed by its owner. */
  verifiedDevice: z.boolean(),
  decision: VoteDecision,
  reason: text(maxVoteReasonChars).nullable().default(null),
  /** The event's origin_server_ts: recorded, never used for expiry. */
  originTs: ms,
});
export type NewVote = z.input<typeof NewVote>;

export interface VoteRecord {
  eventId: string;
  requestId: string;
  contentHash: string;
  voter: string;
  device: string | null;
  via: "reaction" | "command";
  encrypted: boolean;
  verifiedDevice: boolean;
  decision: VoteDecision;
  reason: string | null;
  originTs: number;
  receivedAt: number;
  withdrawn: { at: number; by: string; redactionEventId: string | null } | null;
}

export const ExecutionResult = z.object({
  /** null when the process ended without one (killed by a signal). */
  exitCode: z.number().int().nullable(),
  durationMs: ms,
  timedOut: z.boolean(),
  outputSha256: sha256Hex,
  outputBytes: ms,
  truncated: z.boolean(),
});
export type ExecutionResult = z.input<typeof ExecutionResult>;

export interface ExecutionRecord {
  requestId: string;
  claimedBy: string;
  claimedAt: number;
  startedAt: number | null;
  endedAt: number | null;
  exitCode: number | null;
  durationMs: number | null;
  timedOut: boolean | null;
  outputSha256: string | null;
  outputBytes: number | null;
  truncated: boolean | null;
}

export const NewStandingRule = z.object({
  /** Kept when given (the policy module's proposal carries one); a fresh UUID otherwise. */
  id: name().optional(),
  tool: name(256),
  /** Literal argv prefix the command must start with (no operators, no globs). */
  argvPrefix: z.array(name(4096)).min(1, "needs at least the command name"),
  /** null: any room / any project. */
  room: name().nullable(),
  project: name().nullable(),
  createdBy: name(),
  sourceRequest: name().nullable().default(null),
  expiresAt: ms.nullable(),
});
export type NewStandingRule = z.input<typeof NewStandingRule>;

/** Assignable to the policy module's `StandingRule { id, tool, argvPrefix, room, project, expiresAt }`. */
export interface StandingRuleRecord {
  id: string;
  tool: string;
  argvPrefix: string[];
  room: string | null;
  project: string | null;
  expiresAt: number | null;
  createdBy: string;
  sourceRequest: string | null;
  createdAt: number;
  revokedAt: number | null;
  revokedBy: string | null;
}

// What the approval engine needs from the rest of the bot, each as a narrow port, and what it hands
// back. engine.ts implements ApprovalEngine over these; matrix-ports.ts builds the Matrix-side ports
// from a MatrixClient. Unit tests supply recording, in-memory versions of the ports.
import type { CancelRequest, Grant, RunnerEvent } from "@pocketcoder/sandbox/protocol";
import type { PermissionRequest, ToolPart } from "../agent/events.ts";
import type { PermissionReply } from "../agent/sessions.ts";
import type { Command } from "../chat/command.ts";
import type { Ledger } from "../ledger/ledger.ts";
import type { Logger } from "../log.ts";
import type { Messenger } from "../matrix/messenger.ts";
import type { Policy } from "../policy/compile.ts";
import type { RoomView } from "./tally.ts";

/** A room as it is now (read at decision time, never cached): membership and power levels. */
export interface RoomState extends RoomView {
  /** Joined members' user ids (for mentioning the approvers). */
  members(): string[];
}

/** How an `!approve` message arrived: only an encrypted one from a device cross-signed by its
 * owner counts for strict rules (notes R11). */
export interface VoteAuth {
  encrypted: boolean;
  verifiedDevice: boolean;
  /** The sender's device id, when known. */
  device: string | null;
}

/** The opencode side: answer one permission request. False when opencode no longer knows it. */
export interface AgentPort {
  reply(target: { sessionId: string; permissionId: string }, reply: PermissionReply): Promise<boolean>;
}

/** The runner calls the engine makes; `RunnerClient` satisfies it. */
export interface RunnerPort {
  /** With `start`, the runner starts the command at once (the shim's exec joins it). */
  grant(grant: Grant): Promise<unknown>;
  cancel(req: CancelRequest): Promise<unknown>;
  events(opts: { after?: number; signal?: AbortSignal }): AsyncIterable<RunnerEvent>;
  execLog(execId: string): Promise<Buffer>;
}

export interface ApprovalEngineDeps {
  ledger: Ledger;
  /** The policy in force now (hot reloads swap what this returns). */
  policy: { current(): Policy };
  messenger: Messenger;
  roomState(roomId: string): RoomState;
  /** Authenticity of the message event `eventId` in `roomId` (an `!approve` / `!deny` / `!always`). */
  voteAuth(roomId: string, eventId: string): Promise<VoteAuth>;
  agent: AgentPort;
  runner: RunnerPort;
  botUserId: string;
  /** The bot's clock; must be the same clock the ledger was opened with. */
  clock?: () => number;
  log?: Logger;
}

/** Where a permission request comes from: the room's binding and the turn's requester. */
export interface PermissionContext {
  roomId: string;
  /** Project name as shown to people. */
  project: string;
  /** Absolute project directory (opencode's directory for the session). */
  directory: string;
  /** The person whose message most recently started or joined the turn. */
  requester: string;
  requesterDevice?: string | null;
  /** Everyone else who spoke in the turn; they count as requesters too (ApprovalSpec.coRequesters). */
  coRequesters?: readonly string[];
  /** The tool part of the call, when already seen (bash `workdir` comes from its input). */
  toolPart?: ToolPart;
}

/** An `m.reaction` as the engine needs it (see matrix-ports.ts `reactionInput`). */
export interface ReactionInput {
  roomId: string;
  eventId: string;
  sender: string;
  /** The annotated event (the prompt, if this is a vote). */
  targetEventId: string;
  key: string;
  encrypted: boolean;
  /** origin_server_ts: recorded, never used for expiry. */
  originTs: number;
}

/** An `m.room.redaction`. */
export interface RedactionInput {
  roomId: string;
  eventId: string;
  sender: string;
  redacts: string;
}

export interface ApprovalEngine {
  /** Records, evaluates and then allows, denies or asks. Idempotent per (session, permission). */
  onPermissionAsked(permission: PermissionRequest, ctx: PermissionContext): Promise<void>;
  onReaction(reaction: ReactionInput): Promise<void>;
  onRedaction(redaction: RedactionInput): Promise<void>;
  /** Tool part updates: completes approved non-bash calls (edits) whose result opencode reports. */
  onToolPart(part: ToolPart): void;
  /** `!approve CODE`, `!deny CODE [reason]`, `!always CODE`, `!rules`, `!revoke ID`. The votes
   * need the context's `eventId` (they refuse to run without it). */
  readonly commands: readonly Command[];
  /** Cancels the session's pending requests (`!stop`, agent death) and answers them `reject`. */
  rejectPendingForSession(sessionId: string, reason: string, actor: string): Promise<number>;
  /** Expires what is due now; also runs on timers and at start. */
  sweepExpired(): Promise<void>;
  /** Crash recovery (dispatching/running → unknown, reported), an expiry sweep, expiry timers and
   * the runner event subscription. Call once Matrix is ready. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

// The runner's HTTP API: paths, limits, and a zod schema with a same-named type for every shape
// that crosses it. Shared by the runner, the bot's client and the tests (`@pocketcoder/sandbox/protocol`).
import { z } from "zod";

export const API_VERSION = 1;

/** Limits the runner enforces; the bot may use them to refuse early. */
export const limits = {
  commandMaxBytes: 16_384,
  requestBodyMaxBytes: 65_536,
  queueMax: 50,
  defaultTimeoutMs: 120_000,
  maxTimeoutMs: 600_000,
  grantMaxLifetimeMs: 24 * 3_600_000,
} as const;

/** Routes. Bot-side routes need `Authorization: Bearer <token>`; shim-side routes are authorised by grants. */
export const paths = {
  health: "/v1/health", // GET, no auth
  sessions: "/v1/sessions", // GET list, POST ensure (bot)
  session: (id: string) => `/v1/sessions/${encodeURIComponent(id)}`, // DELETE (bot)
  grants: "/v1/grants", // POST add, DELETE revoke (bot)
  cancel: "/v1/cancel", // POST (bot)
  events: "/v1/events", // GET ?after=SEQ, text/event-stream (bot)
  execInfo: (execId: string) => `/v1/execs/${execId}`, // GET record (bot)
  execLog: (execId: string) => `/v1/execs/${execId}/log`, // GET full output bytes (bot)
  exec: "/v1/exec", // POST, exec stream (shim)
  execCancel: "/v1/exec/cancel", // POST (shim, its own call)
} as const;

// ---- identifiers and checked text ----

export const SessionId = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, "must be 1-128 characters of A-Z a-z 0-9 _ -");
export type SessionId = z.infer<typeof SessionId>;

export const CallId = z.string().regex(/^[A-Za-z0-9_.:-]{1,200}$/, "must be 1-200 characters of A-Z a-z 0-9 _ . : -");
export type CallId = z.infer<typeof CallId>;

export const ExecId = z.string().regex(/^[0-9a-f]{16}$/, "must be 16 lowercase hex digits");
export type ExecId = z.infer<typeof ExecId>;

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits (sha256 of the exact command bytes)");

/** An absolute path without control characters: the directory a command runs in. */
export const Cwd = z
  .string()
  .max(4096)
  .regex(/^\//, "must be an absolute path")
  .regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters");

export const TimeoutMs = z.number().int().positive().max(limits.maxTimeoutMs, `must be at most ${limits.maxTimeoutMs} ms`);

// ---- bot side ----

export const Grant = z.strictObject({
  session: SessionId,
  callId: CallId,
  sha256: Sha256Hex,
  cwd: Cwd,
  expiresAt: z.iso.datetime({ offset: true }),
  /**
   * Start the approved command now rather than when the shim asks: its bytes (whose sha256 must be
   * `sha256`) and time limit. The grant is consumed at once, and the shim's exec for the call joins
   * the running (or finished) command, once, and receives all of its output; the agent's round trip
   * is then no longer between the approval and the command.
   */
  start: z.strictObject({ command: z.string(), timeoutMs: TimeoutMs.optional() }).optional(),
});
export type Grant = z.infer<typeof Grant>;

export const GrantResponse = z.strictObject({ ok: z.literal(true), execId: ExecId.nullable() });
export type GrantResponse = z.infer<typeof GrantResponse>;

export const GrantRef = z.strictObject({ session: SessionId, callId: CallId });
export type GrantRef = z.infer<typeof GrantRef>;

export const EnsureSession = z.strictObject({ session: SessionId });
export type EnsureSession = z.infer<typeof EnsureSession>;

export const CancelRequest = z.strictObject({
  session: SessionId,
  /** Which call to cancel; without it, whatever runs in the session now. */
  callId: CallId.optional(),
});
export type CancelRequest = z.infer<typeof CancelRequest>;

export const CancelResponse = z.strictObject({ cancelled: z.boolean(), execId: ExecId.nullable(), state: z.enum(["queued", "running", "none"]) });
export type CancelResponse = z.infer<typeof CancelResponse>;

export const SandboxMode = z.enum(["bwrap", "plain"]);
export type SandboxMode = z.infer<typeof SandboxMode>;

export const Health = z.strictObject({
  ok: z.literal(true),
  apiVersion: z.literal(API_VERSION),
  bootId: z.string(),
  sandbox: SandboxMode,
  sessions: z.number().int(),
  running: z.number().int(),
  uptimeMs: z.number(),
});
export type Health = z.infer<typeof Health>;

export const SessionInfo = z.strictObject({
  session: SessionId,
  tmuxSession: z.string(),
  paneId: z.string(),
  state: z.enum(["starting", "idle", "running", "failed"]),
  queued: z.number().int(),
  running: z.strictObject({ execId: ExecId, callId: CallId, startedAt: z.string() }).nullable(),
  /** How a person watches it: `tmux -S <socket> attach -r -t <name>`. */
  attach: z.string(),
});
export type SessionInfo = z.infer<typeof SessionInfo>;

export const SessionList = z.strictObject({ sessions: z.array(SessionInfo) });
export type SessionList = z.infer<typeof SessionList>;

// ---- shim side ----

export const ExecRequest = z.strictObject({
  session: SessionId,
  callId: CallId,
  /** The exact command text; its UTF-8 bytes are what the grant's sha256 covers. */
  command: z.string(),
  cwd: Cwd,
  timeoutMs: TimeoutMs.optional(),
  /** Reattach after a broken connection: continue the same call's stream from this many text bytes. */
  resumeFrom: z.number().int().nonnegative().optional(),
});
export type ExecRequest = z.infer<typeof ExecRequest>;

export const ExecStatus = z.enum(["exited", "timed_out", "cancelled", "shell_died", "lost", "refused"]);
export type ExecStatus = z.infer<typeof ExecStatus>;

export const ExecResult = z.strictObject({
  execId: ExecId,
  session: SessionId,
  callId: CallId,
  status: ExecStatus,
  /** The shell's `$?` after the command (130 after Ctrl-C); null when no exit status is known. */
  exitCode: z.number().int().nullable(),
  durationMs: z.number().int().nonnegative(),
  /** Where the shell was when the command ended (from the in-band marker: for display only). */
  cwd: z.string().nullable(),
  /** Size and sha256 of the full output: the bytes the command wrote to stdout and stderr until it ended, kept in logPath. */
  outputBytes: z.number().int().nonnegative(),
  outputSha256: Sha256Hex,
  /** Output as text (ANSI stripped, CRLF → LF), head and tail when longer than the reply limit. */
  truncated: z.boolean(),
  head: z.string(),
  tail: z.string(),
  omittedBytes: z.number().int().nonnegative(),
  /** The full log (out of the sandbox's reach); null when the command never ran or its output file was lost. */
  logPath: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string(),
});
export type ExecResult = z.infer<typeof ExecResult>;

/**
 * The body of a 200 answer to POST /v1/exec is a sequence of frames: one type byte, a 4-byte
 * big-endian payload length, the payload. Binary framing keeps the shim tiny (no JSON parser).
 */
export const frameTypes = {
  started: 0x73, // 's': JSON ExecStarted
  output: 0x6f, // 'o': output text bytes (UTF-8, ANSI stripped, CRLF → LF)
  notice: 0x6e, // 'n': a line for the shim's stderr
  result: 0x72, // 'r': JSON ExecResult, always last
} as const;

/** `logPath`: where the full log will be once the command has ended (while it runs, GET /v1/execs/:id/log gives the output so far). */
export const ExecStarted = z.strictObject({ execId: ExecId, startedAt: z.string(), logPath: z.string() });
export type ExecStarted = z.infer<typeof ExecStarted>;

export const ErrorCode = z.enum([
  "bad_request",
  "too_large",
  "unauthorized",
  "not_found",
  "unknown_session",
  "refused",
  "busy",
  "conflict",
  "unavailable",
  "internal",
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** Every non-2xx answer. `exitCode` is set on exec refusals: what the shim exits with. */
export const ErrorBody = z.strictObject({
  error: z.strictObject({ code: ErrorCode, message: z.string(), field: z.string().optional() }),
  exitCode: z.number().int().optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

// ---- events (GET /v1/events, server-sent events; `id:` is the seq of persisted events) ----

export const RefusalReason = z.enum(["no_grant", "hash_mismatch", "cwd_mismatch", "expired", "replayed", "wrong_session", "unknown_session"]);
export type RefusalReason = z.infer<typeof RefusalReason>;

export const CancelStep = z.enum(["interrupt", "terminate", "kill", "respawn"]);
export type CancelStep = z.infer<typeof CancelStep>;

const call = { session: SessionId, callId: CallId, execId: ExecId };

export const EventBody = z.discriminatedUnion("type", [
  z.object({ type: z.literal("runner.started"), bootId: z.string(), sandbox: SandboxMode, warning: z.string().nullable() }),
  z.object({ type: z.literal("runner.adopted"), sessions: z.array(SessionId), inflight: z.array(ExecId) }),
  z.object({ type: z.literal("session.created"), session: SessionId, tmuxSession: z.string() }),
  z.object({ type: z.literal("session.closed"), session: SessionId }),
  z.object({ type: z.literal("pane.respawned"), session: SessionId, exitStatus: z.number().int().nullable(), reason: z.string() }),
  z.object({ type: z.literal("exec.queued"), ...call, position: z.number().int() }),
  z.object({ type: z.literal("exec.started"), ...call, sha256: Sha256Hex, cwd: Cwd, timeoutMs: z.number().int(), logPath: z.string() }),
  /** Ephemeral (never replayed): throttled live output for display. */
  z.object({ type: z.literal("exec.output"), ...call, outputBytes: z.number().int(), text: z.string() }),
  z.object({ type: z.literal("exec.no_output"), ...call, silentMs: z.number().int(), screen: z.string() }),
  z.object({ type: z.literal("exec.timeout"), ...call, timeoutMs: z.number().int() }),
  z.object({ type: z.literal("exec.cancel"), ...call, step: CancelStep, by: z.enum(["bot", "shim", "timeout", "disconnect"]), pgid: z.number().int().nullable() }),
  z.object({ type: z.literal("exec.finished"), ...call, result: ExecResult }),
  /** Security event: an exec the runner would not run. */
  z.object({
    type: z.literal("exec.refused"),
    session: SessionId,
    callId: CallId,
    reason: RefusalReason,
    message: z.string(),
    sha256: Sha256Hex,
    cwd: z.string(),
  }),
]);
export type EventBody = z.infer<typeof EventBody>;
export type EventType = EventBody["type"];

/** An event as delivered: the body plus its place in the stream. Unknown fields are dropped, so newer runners stay readable. */
export const RunnerEvent = z.intersection(z.object({ seq: z.number().int().nullable(), ts: z.string() }), EventBody);
export type RunnerEvent = { seq: number | null; ts: string } & EventBody;

/** Turns a zod error into one readable line naming each failing field. */
export function describeZodError(error: z.ZodError): { message: string; field: string | undefined } {
  const first = error.issues[0];
  const field = first && first.path.length > 0 ? first.path.join(".") : undefined;
  const message = error.issues.map((i) => (i.path.length > 0 ? `${i.path.join(".")}: ${i.message}` : i.message)).join("; ");
  return { message, field };
}

// Running an approved request at most once (notes R10, R15): the claim that consumes the approval
// also inserts the execution row, in one transaction, and a request caught mid-flight by a crash
// becomes `unknown` instead of being run again.
import type { LedgerContext } from "./context.ts";
import type { RequestState } from "./request-states.ts";
import { getRequest, REQUESTS_WITH_STATE, swapState } from "./requests.ts";
import { type ApprovalRequest, type ExecutionRecord, ExecutionResult, parseInput } from "./schemas.ts";

export type ClaimOutcome =
  | { ok: true; request: ApprovalRequest }
  | { ok: false; reason: "unknown_request" | "not_approved" | "already_claimed" | "expired"; state: RequestState | null };

const afterClaim: ReadonlySet<RequestState> = new Set(["dispatching", "running", "succeeded", "failed", "timed_out", "unknown"]);

interface ExecutionRow {
  request_id: string;
  claimed_by: string;
  claimed_at: number;
  started_at: number | null;
  ended_at: number | null;
  exit_code: number | null;
  duration_ms: number | null;
  timed_out: number | null;
  output_sha256: string | null;
  output_bytes: number | null;
  truncated: number | null;
}

const flag = (n: number | null) => (n === null ? null : n === 1);

export function getExecution(ctx: LedgerContext, requestId: string): ExecutionRecord | null {
  const r = ctx.sql("SELECT * FROM executions WHERE request_id = ?").get(requestId) as ExecutionRow | undefined;
  if (!r) return null;
  return {
    requestId: r.request_id,
    claimedBy: r.claimed_by,
    claimedAt: r.claimed_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    exitCode: r.exit_code,
    durationMs: r.duration_ms,
    timedOut: flag(r.timed_out),
    outputSha256: r.output_sha256,
    outputBytes: r.output_bytes,
    truncated: flag(r.truncated),
  };
}

/** approved → dispatching plus the execution row, or nothing. Re-checks state and expiry atomically,
 * so of any number of callers (in any number of processes) at most one ever gets `ok: true`. */
export function claimExecution(ctx: LedgerContext, id: string, actor: string): ClaimOutcome {
  return ctx.write((): ClaimOutcome => {
    const req = ctx.sql(`SELECT state, requests.expires_at, content_hash FROM ${REQUESTS_WITH_STATE} WHERE id = ?`).get(id) as
      | { state: RequestState; expires_at: number; content_hash: string }
      | undefined;
    if (!req) return { ok: false, reason: "unknown_request", state: null };
    if (req.state !== "approved") return { ok: false, reason: afterClaim.has(req.state) ? "already_claimed" : "not_approved", state: req.state };
    const at = ctx.now();
    if (at >= req.expires_at) return { ok: false, reason: "expired", state: req.state };
    if (!swapState(ctx, id, "approved", "dispatching", at)) return { ok: false, reason: "already_claimed", state: null };
    ctx.sql("INSERT INTO executions (request_id, claimed_by, claimed_at) VALUES (?, ?, ?)").run(id, actor, at);
    ctx.audit(actor, "exec.claim", { contentHash: req.content_hash, from: "approved", requestId: id, to: "dispatching" });
    return { ok: true, request: getRequest(ctx, id)! };
  });
}

/** dispatching → running, once the sandbox has accepted the command. */
export function markRunning(ctx: LedgerContext, id: string, actor: string): boolean {
  return ctx.write(() => {
    const at = ctx.now();
    if (!swapState(ctx, id, "dispatching", "running", at)) return false;
    ctx.sql("UPDATE executions SET started_at = ? WHERE request_id = ?").run(at, id);
    ctx.audit(actor, "exec.start", { from: "dispatching", requestId: id, startedAt: at, to: "running" });
    return true;
  });
}

/** Records the outcome of a dispatched request: timed_out, succeeded (exit 0) or failed. Returns
 * the new state, or null when the request was not dispatching or running (e.g. already `unknown`). */
export function recordResult(ctx: LedgerContext, id: string, actor: string, input: ExecutionResult): RequestState | null {
  const result = parseInput(ExecutionResult, input, "recordResult");
  return ctx.write(() => {
    const row = ctx.sql("SELECT state FROM request_states WHERE request_id = ?").get(id) as { state: RequestState } | undefined;
    if (!row || (row.state !== "dispatching" && row.state !== "running")) return null;
    const to: RequestState = result.timedOut ? "timed_out" : result.exitCode === 0 ? "succeeded" : "failed";
    const at = ctx.now();
    if (!swapState(ctx, id, row.state, to, at)) return null;
    ctx
      .sql(
        `UPDATE executions SET ended_at = ?, exit_code = ?, duration_ms = ?, timed_out = ?, output_sha256 = ?, output_bytes = ?, truncated = ?
         WHERE request_id = ?`,
      )
      .run(at, result.exitCode, result.durationMs, result.timedOut ? 1 : 0, result.outputSha256, result.outputBytes, result.truncated ? 1 : 0, id);
    ctx.audit(actor, "exec.result", { ...result, endedAt: at, from: row.state, requestId: id, to });
    return to;
  });
}

/** At start-up: every request left dispatching or running without a result becomes `unknown`.
 * They are returned so the bot can report them; they are never re-run automatically. */
export function recoverAfterCrash(ctx: LedgerContext, actor: string): ApprovalRequest[] {
  return ctx.write(() => {
    const at = ctx.now();
    const stuck = ctx
      .sql(
        `SELECT requests.id, state FROM ${REQUESTS_WITH_STATE} JOIN executions e ON e.request_id = requests.id
         WHERE state IN ('dispatching', 'running') AND e.ended_at IS NULL ORDER BY e.claimed_at, requests.rowid`,
      )
      .all() as { id: string; state: RequestState }[];
    const recovered: ApprovalRequest[] = [];
    for (const { id, state } of stuck) {
      if (!swapState(ctx, id, state, "unknown", at)) continue;
      const detail = { reason: "the bot stopped while this was dispatched; it is not re-run automatically" };
      ctx.audit(actor, "request.update", { detail, from: state, requestId: id, to: "unknown" });
      recovered.push(getRequest(ctx, id)!);
    }
    return recovered;
  });
}

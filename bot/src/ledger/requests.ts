// Approval requests: written once, then moved along the state machine only by compare-and-swap.
import { hash, randomUUID } from "node:crypto";
import { canonicalJson } from "../canonical-json.ts";
import type { LedgerContext } from "./context.ts";
import { type RequestState, decisionEdges } from "./request-states.ts";
import { type ApprovalRequest, ApprovalSpec, LedgerInputError, NewRequest, parseInput } from "./schemas.ts";
import { generateCode, normalizeCode } from "./short-code.ts";

/** What an approval is an approval of. Any change to these makes a different request, so a vote
 * never carries over to something its voter did not see (notes R1). */
export interface RequestContent {
  tool: string;
  inputKind: string;
  input: string;
  cwd: string;
  room: string;
  project: string;
  sessionId: string;
}

export function contentHashOf(c: RequestContent): string {
  const { tool, inputKind, input, cwd, room, project, sessionId } = c;
  return hash("sha256", canonicalJson({ cwd, input, inputKind, project, room, sessionId, tool }));
}

interface RequestRow {
  id: string;
  code: string;
  content_hash: string;
  tool: string;
  input_kind: ApprovalRequest["inputKind"];
  input: string;
  cwd: string;
  room: string;
  project: string;
  session_id: string;
  permission_id: string;
  call_id: string | null;
  requester: string;
  requester_device: string | null;
  rule: string | null;
  risk: string;
  policy_hash: string;
  approval: string;
  prompt_event_id: string | null;
  created_at: number;
  expires_at: number;
  state: RequestState;
  state_changed_at: number;
}

export function toRequest(r: RequestRow): ApprovalRequest {
  return {
    id: r.id,
    code: r.code,
    contentHash: r.content_hash,
    tool: r.tool,
    inputKind: r.input_kind,
    input: r.input,
    cwd: r.cwd,
    room: r.room,
    project: r.project,
    sessionId: r.session_id,
    permissionId: r.permission_id,
    callId: r.call_id,
    requester: r.requester,
    requesterDevice: r.requester_device,
    rule: r.rule,
    risk: r.risk,
    policyHash: r.policy_hash,
    approval: ApprovalSpec.parse(JSON.parse(r.approval)),
    promptEventId: r.prompt_event_id,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    state: r.state,
    stateChangedAt: r.state_changed_at,
  };
}

/** A request row with its state (schema step 4 keeps them apart). */
export const REQUESTS_WITH_STATE = "requests JOIN request_states ON request_states.request_id = requests.id";

function one(ctx: LedgerContext, where: string, ...params: unknown[]): ApprovalRequest | null {
  const row = ctx.sql(`SELECT * FROM ${REQUESTS_WITH_STATE} WHERE ${where}`).get(...params) as RequestRow | undefined;
  return row ? toRequest(row) : null;
}

export function getRequest(ctx: LedgerContext, id: string): ApprovalRequest | null {
  return one(ctx, "id = ?", id);
}

/** The pending request with this code, or else the latest one that had it (so a late
 * `!approve CODE` can be told it came too late). */
export function requestByCode(ctx: LedgerContext, typed: string): ApprovalRequest | null {
  return one(ctx, "code = ? ORDER BY state = 'pending' DESC, created_at DESC, requests.rowid DESC LIMIT 1", normalizeCode(typed));
}

export function requestByPromptEvent(ctx: LedgerContext, eventId: string): ApprovalRequest | null {
  return one(ctx, "prompt_event_id = ?", eventId);
}

export function requestByPermission(ctx: LedgerContext, sessionId: string, permissionId: string): ApprovalRequest | null {
  return one(ctx, "session_id = ? AND permission_id = ?", sessionId, permissionId);
}

export function listByState(ctx: LedgerContext, state: RequestState): ApprovalRequest[] {
  const rows = ctx.sql(`SELECT * FROM ${REQUESTS_WITH_STATE} WHERE state = ? ORDER BY created_at, requests.rowid`).all(state) as RequestRow[];
  return rows.map(toRequest);
}

export function createRequest(ctx: LedgerContext, input: NewRequest): ApprovalRequest {
  const req = parseInput(NewRequest, input, "createRequest");
  return ctx.write(() => {
    const createdAt = ctx.now();
    if (req.expiresAt <= createdAt) throw new LedgerInputError(`createRequest: expiresAt: ${req.expiresAt} is not after now (${createdAt})`);
    const existing = requestByPermission(ctx, req.sessionId, req.permissionId);
    if (existing) {
      throw new LedgerInputError(`createRequest: permission ${req.permissionId} of session ${req.sessionId} already has request ${existing.id}`);
    }
    let code = generateCode();
    while (ctx.sql(`SELECT 1 FROM ${REQUESTS_WITH_STATE} WHERE code = ? AND state = 'pending'`).get(code)) code = generateCode();
    const r: ApprovalRequest = {
      id: randomUUID(),
      code,
      contentHash: contentHashOf(req),
      tool: req.tool,
      inputKind: req.inputKind,
      input: req.input,
      cwd: req.cwd,
      room: req.room,
      project: req.project,
      sessionId: req.sessionId,
      permissionId: req.permissionId,
      callId: req.callId,
      requester: req.requester,
      requesterDevice: req.requesterDevice,
      rule: req.rule,
      risk: req.risk,
      policyHash: req.policyHash,
      approval: req.approval,
      promptEventId: null,
      createdAt,
      expiresAt: req.expiresAt,
      state: "pending",
      stateChangedAt: createdAt,
    };
    ctx
      .sql(
        `INSERT INTO requests (id, code, content_hash, tool, input_kind, input, cwd, room, project, session_id,
           permission_id, call_id, requester, requester_device, rule, risk, policy_hash, approval, created_at,
           expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(r.id, r.code, r.contentHash, r.tool, r.inputKind, r.input, r.cwd, r.room, r.project, r.sessionId, r.permissionId,
        r.callId, r.requester, r.requesterDevice, r.rule, r.risk, r.policyHash, canonicalJson(r.approval), createdAt, r.expiresAt);
    // The entry holds the whole request, so the chain alone tells what was asked.
    const { id: requestId, promptEventId, state, stateChangedAt, ...content } = r;
    ctx.audit(r.requester, "request.create", { requestId, ...content });
    return r;
  });
}

/** Records the Matrix event of the approval prompt; set once. True when it is (now) this event. */
export function setPromptEvent(ctx: LedgerContext, id: string, eventId: string, actor: string): boolean {
  return ctx.write(() => {
    const current = ctx.sql("SELECT prompt_event_id FROM requests WHERE id = ?").get(id) as { prompt_event_id: string | null } | undefined;
    if (!current) return false;
    if (current.prompt_event_id !== null) return current.prompt_event_id === eventId;
    ctx.sql("UPDATE requests SET prompt_event_id = ? WHERE id = ? AND prompt_event_id IS NULL").run(eventId, id);
    ctx.audit(actor, "request.prompt", { promptEventId: eventId, requestId: id });
    return true;
  });
}

/** The compare-and-swap itself; the caller audits it in the same transaction. */
export function swapState(ctx: LedgerContext, id: string, from: RequestState, to: RequestState, at: number): boolean {
  return ctx.sql("UPDATE request_states SET state = ?, state_changed_at = ? WHERE request_id = ? AND state = ?").run(to, at, id, from).changes === 1;
}

/**
 * Moves a request along a decision edge (pending → approved | denied | expired | cancelled,
 * approved → cancelled) if it is still in `from`; false when it has moved on. Approval also fails
 * once the request's expiry has passed on the bot's clock, even before `expireDue` has run.
 */
export function transition(ctx: LedgerContext, id: string, from: RequestState, to: RequestState, actor: string, detail: Record<string, unknown> = {}): boolean {
  if (!decisionEdges.has(`${from}>${to}`)) {
    throw new LedgerInputError(`transition: ${from} → ${to} is not a decision; executions move through claimExecution, markRunning and recordResult`);
  }
  return ctx.write(() => {
    const at = ctx.now();
    const swapped =
      to === "approved"
        ? ctx
            .sql("UPDATE request_states SET state = ?, state_changed_at = ? WHERE request_id = ? AND state = ? AND expires_at > ?")
            .run(to, at, id, from, at).changes === 1
        : swapState(ctx, id, from, to, at);
    if (!swapped) return false;
    ctx.audit(actor, "request.update", { detail, from, requestId: id, to });
    return true;
  });
}

/** Expires every pending request whose time is up (by the bot's clock); returns them, now expired. */
export function expireDue(ctx: LedgerContext, actor: string): ApprovalRequest[] {
  return ctx.write(() => {
    const at = ctx.now();
    const due = ctx.sql(`SELECT id FROM ${REQUESTS_WITH_STATE} WHERE state = 'pending' AND requests.expires_at <= ? ORDER BY requests.expires_at, requests.rowid`).all(at) as { id: string }[];
    const expired: ApprovalRequest[] = [];
    for (const { id } of due) {
      if (!swapState(ctx, id, "pending", "expired", at)) continue;
      ctx.audit(actor, "request.update", { detail: { reason: "expired" }, from: "pending", requestId: id, to: "expired" });
      expired.push(getRequest(ctx, id)!);
    }
    return expired;
  });
}

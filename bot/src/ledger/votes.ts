// Votes on approval requests. A vote counts only while its request is pending and unexpired, once
// per event and once per voter; votes that do not count are still audited (as Teleport records late
// reviews) except exact replays of an event already recorded, which are ignored so replays stay idempotent.
import type { LedgerContext } from "./context.ts";
import type { RequestState } from "./request-states.ts";
import { REQUESTS_WITH_STATE } from "./requests.ts";
import { NewVote, type VoteRecord, parseInput } from "./schemas.ts";

export type VoteRefusal = "duplicate_event" | "unknown_request" | "wrong_room" | "not_pending" | "expired" | "already_voted";

export type VoteOutcome =
  | { counted: true; vote: VoteRecord }
  | { counted: false; reason: VoteRefusal; /** The request's state, when it exists. */ state: RequestState | null };

export type WithdrawOutcome =
  | { withdrawn: true; vote: VoteRecord }
  | { withdrawn: false; reason: "unknown_vote" | "not_voter" | "already_withdrawn" | "not_pending"; state: RequestState | null };

interface VoteRow {
  event_id: string;
  request_id: string;
  content_hash: string;
  voter: string;
  device: string | null;
  via: VoteRecord["via"];
  encrypted: number;
  verified_device: number;
  decision: VoteRecord["decision"];
  reason: string | null;
  origin_ts: number;
  received_at: number;
  withdrawn_at: number | null;
  withdrawn_by: string | null;
  redaction_event_id: string | null;
}

const selectVotes = `SELECT v.*, w.withdrawn_at, w.withdrawn_by, w.redaction_event_id
  FROM votes v LEFT JOIN vote_withdrawals w ON w.event_id = v.event_id`;

function toVote(r: VoteRow): VoteRecord {
  return {
    eventId: r.event_id,
    requestId: r.request_id,
    contentHash: r.content_hash,
    voter: r.voter,
    device: r.device,
    via: r.via,
    encrypted: r.encrypted === 1,
    verifiedDevice: r.verified_device === 1,
    decision: r.decision,
    reason: r.reason,
    originTs: r.origin_ts,
    receivedAt: r.received_at,
    withdrawn: r.withdrawn_at === null ? null : { at: r.withdrawn_at, by: r.withdrawn_by!, redactionEventId: r.redaction_event_id },
  };
}

export function getVote(ctx: LedgerContext, eventId: string): VoteRecord | null {
  const row = ctx.sql(`${selectVotes} WHERE v.event_id = ?`).get(eventId) as VoteRow | undefined;
  return row ? toVote(row) : null;
}

/** Every vote ever cast on the request, withdrawn ones included, in the order they arrived. */
export function listVotes(ctx: LedgerContext, requestId: string): VoteRecord[] {
  return (ctx.sql(`${selectVotes} WHERE v.request_id = ? ORDER BY v.audit_seq`).all(requestId) as VoteRow[]).map(toVote);
}

/** The votes that stand: at most one per voter, none withdrawn, in the order they arrived. */
export function tally(ctx: LedgerContext, requestId: string): VoteRecord[] {
  return (ctx.sql(`${selectVotes} WHERE v.request_id = ? AND w.event_id IS NULL ORDER BY v.audit_seq`).all(requestId) as VoteRow[]).map(toVote);
}

interface VoteTarget {
  state: RequestState;
  expires_at: number;
  room: string;
  content_hash: string;
}

function refusalFor(ctx: LedgerContext, v: { room: string; requestId: string; voter: string }, req: VoteTarget, receivedAt: number): VoteRefusal | null {
  if (v.room !== req.room) return "wrong_room";
  if (req.state !== "pending") return "not_pending";
  if (receivedAt >= req.expires_at) return "expired";
  const active = ctx
    .sql("SELECT 1 FROM votes v WHERE request_id = ? AND voter = ? AND NOT EXISTS (SELECT 1 FROM vote_withdrawals w WHERE w.event_id = v.event_id)")
    .get(v.requestId, v.voter);
  return active ? "already_voted" : null;
}

export function recordVote(ctx: LedgerContext, input: NewVote): VoteOutcome {
  const v = parseInput(NewVote, input, "recordVote");
  return ctx.write((): VoteOutcome => {
    if (ctx.sql("SELECT 1 FROM votes WHERE event_id = ?").get(v.eventId)) return { counted: false, reason: "duplicate_event", state: null };
    const req = ctx.sql(`SELECT state, requests.expires_at, room, content_hash FROM ${REQUESTS_WITH_STATE} WHERE id = ?`).get(v.requestId) as VoteTarget | undefined;
    if (!req) return { counted: false, reason: "unknown_request", state: null };
    const receivedAt = ctx.now();
    const refusal = refusalFor(ctx, v, req, receivedAt);
    const body = {
      contentHash: req.content_hash,
      decision: v.decision,
      device: v.device,
      encrypted: v.encrypted,
      eventId: v.eventId,
      originTs: v.originTs,
      reason: v.reason,
      receivedAt,
      requestId: v.requestId,
      room: v.room,
      verifiedDevice: v.verifiedDevice,
      via: v.via,
      voter: v.voter,
    };
    if (refusal) {
      ctx.audit(v.voter, "request.review.ignored", { ...body, why: refusal });
      return { counted: false, reason: refusal, state: req.state };
    }
    const { seq } = ctx.audit(v.voter, "request.review", body);
    ctx
      .sql(
        `INSERT INTO votes (event_id, audit_seq, request_id, content_hash, voter, device, via, encrypted, verified_device, decision, reason, origin_ts, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(v.eventId, seq, v.requestId, req.content_hash, v.voter, v.device, v.via, v.encrypted ? 1 : 0, v.verifiedDevice ? 1 : 0, v.decision, v.reason, v.originTs, receivedAt);
    const vote: VoteRecord = {
      eventId: v.eventId,
      requestId: v.requestId,
      contentHash: req.content_hash,
      voter: v.voter,
      device: v.device,
      via: v.via,
      encrypted: v.encrypted,
      verifiedDevice: v.verifiedDevice,
      decision: v.decision,
      reason: v.reason,
      originTs: v.originTs,
      receivedAt,
      withdrawn: null,
    };
    return { counted: true, vote };
  });
}

/** Withdraws a vote whose event its voter redacted, while its request is still pending (notes R12).
 * A redaction by anyone else (a room moderator, a homeserver) leaves the vote standing: it was
 * cast, and only its voter may take it back. */
export function withdrawVote(ctx: LedgerContext, eventId: string, actor: string, redactionEventId: string | null = null): WithdrawOutcome {
  return ctx.write((): WithdrawOutcome => {
    const vote = getVote(ctx, eventId);
    if (!vote) return { withdrawn: false, reason: "unknown_vote", state: null };
    const { state } = ctx.sql("SELECT state FROM request_states WHERE request_id = ?").get(vote.requestId) as { state: RequestState };
    if (actor !== vote.voter) return { withdrawn: false, reason: "not_voter", state };
    if (vote.withdrawn) return { withdrawn: false, reason: "already_withdrawn", state };
    if (state !== "pending") return { withdrawn: false, reason: "not_pending", state };
    const at = ctx.now();
    ctx.sql("INSERT INTO vote_withdrawals (event_id, redaction_event_id, withdrawn_by, withdrawn_at) VALUES (?, ?, ?, ?)").run(eventId, redactionEventId, actor, at);
    ctx.audit(actor, "request.review.withdraw", { eventId, redactionEventId, requestId: vote.requestId, voter: vote.voter });
    return { withdrawn: true, vote: { ...vote, withdrawn: { at, by: actor, redactionEventId } } };
  });
}

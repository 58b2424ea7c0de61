// The ledger's public face: one object per database, every method one atomic, audited step.
// See README.md in this folder for the tables, the states and the chain encoding.
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { type AuditEntry, type ChainHead, readHead } from "./audit-chain.ts";
import { entriesSince, lastEntries, requestHistory } from "./audit-read.ts";
import { type LedgerContext, createContext } from "./context.ts";
import { type Db, type OpenOptions, openLedgerDatabase } from "./database.ts";
import { type ClaimOutcome, claimExecution, getExecution, markRunning, recordResult, recoverAfterCrash } from "./executions.ts";
import type { RequestState } from "./request-states.ts";
import * as requests from "./requests.ts";
import { LedgerInputError } from "./schemas.ts";
import type { ApprovalRequest, ExecutionRecord, ExecutionResult, NewRequest, NewStandingRule, NewVote, StandingRuleRecord, VoteRecord } from "./schemas.ts";
import { type RuleQuery, createStandingRule, getStandingRule, listStandingRules, revokeStandingRule } from "./standing-rules.ts";
import { type Anchor, type VerifyResult, verifyChain } from "./verify-chain.ts";
import { type ParallelOptions, verifyChainInParallel } from "./verify-parallel.ts";
import { type VoteOutcome, type WithdrawOutcome, getVote, listVotes, recordVote, tally, withdrawVote } from "./votes.ts";

export interface LedgerOptions extends OpenOptions {
  /** The bot's clock (ms since the epoch); tests pass a controllable one. */
  clock?: () => number;
}

/** Event names the ledger writes itself; `append` refuses them so they cannot be forged. */
const reservedPrefixes = ["request.", "exec.", "rule."];

export class Ledger {
  readonly db: Db;
  private readonly ctx: LedgerContext;

  constructor(db: Db, options: { clock?: () => number } = {}) {
    this.db = db;
    this.ctx = createContext(db, options.clock ?? Date.now);
  }

  /** Opens (creating it and its directory if needed, owner-only) and migrates the database at `path`. */
  static open(path: string, options: LedgerOptions = {}): Ledger {
    if (!options.readonly && path !== ":memory:" && !existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // Requests hold commands and diffs: the file (and SQLite's -wal/-shm, which copy its mode) is owner-only.
      closeSync(openSync(path, "wx", 0o600));
    }
    return new Ledger(openLedgerDatabase(path, options), options);
  }

  close(): void {
    this.db.close();
  }

  /** Runs `fn` as one IMMEDIATE transaction: the ledger calls inside it commit together or not at
   * all (e.g. a vote, the tally it completes and the resulting transition). */
  atomically<T>(fn: () => T): T {
    return this.ctx.write(fn);
  }

  // Requests

  createRequest(input: NewRequest): ApprovalRequest {
    return requests.createRequest(this.ctx, input);
  }
  getRequest(id: string): ApprovalRequest | null {
    return requests.getRequest(this.ctx, id);
  }
  /** Case-insensitive; the pending request with the code, else the latest that had it. */
  byCode(code: string): ApprovalRequest | null {
    return requests.requestByCode(this.ctx, code);
  }
  byPromptEvent(eventId: string): ApprovalRequest | null {
    return requests.requestByPromptEvent(this.ctx, eventId);
  }
  byPermission(sessionId: string, permissionId: string): ApprovalRequest | null {
    return requests.requestByPermission(this.ctx, sessionId, permissionId);
  }
  listPending(): ApprovalRequest[] {
    return requests.listByState(this.ctx, "pending");
  }
  listByState(state: RequestState): ApprovalRequest[] {
    return requests.listByState(this.ctx, state);
  }
  setPromptEvent(id: string, eventId: string, actor: string): boolean {
    return requests.setPromptEvent(this.ctx, id, eventId, actor);
  }
  transition(id: string, from: RequestState, to: RequestState, actor: string, detail: Record<string, unknown> = {}): boolean {
    return requests.transition(this.ctx, id, from, to, actor, detail);
  }
  expireDue(actor = "system:expiry"): ApprovalRequest[] {
    return requests.expireDue(this.ctx, actor);
  }

  // Votes

  recordVote(input: NewVote): VoteOutcome {
    return recordVote(this.ctx, input);
  }
  withdrawVote(eventId: string, actor: string, redactionEventId: string | null = null): WithdrawOutcome {
    return withdrawVote(this.ctx, eventId, actor, redactionEventId);
  }
  tally(requestId: string): VoteRecord[] {
    return tally(this.ctx, requestId);
  }
  listVotes(requestId: string): VoteRecord[] {
    return listVotes(this.ctx, requestId);
  }
  getVote(eventId: string): VoteRecord | null {
    return getVote(this.ctx, eventId);
  }

  // Executions

  claimExecution(id: string, actor: string): ClaimOutcome {
    return claimExecution(this.ctx, id, actor);
  }
  markRunning(id: string, actor: string): boolean {
    return markRunning(this.ctx, id, actor);
  }
  recordResult(id: string, actor: string, result: ExecutionResult): RequestState | null {
    return recordResult(this.ctx, id, actor, result);
  }
  getExecution(id: string): ExecutionRecord | null {
    return getExecution(this.ctx, id);
  }
  recoverAfterCrash(actor = "bot"): ApprovalRequest[] {
    return recoverAfterCrash(this.ctx, actor);
  }

  // Standing rules

  createStandingRule(input: NewStandingRule): StandingRuleRecord {
    return createStandingRule(this.ctx, input);
  }
  getStandingRule(id: string): StandingRuleRecord | null {
    return getStandingRule(this.ctx, id);
  }
  listStandingRules(query: RuleQuery = {}): StandingRuleRecord[] {
    return listStandingRules(this.ctx, query);
  }
  revokeStandingRule(id: string, actor: string): boolean {
    return revokeStandingRule(this.ctx, id, actor);
  }

  // The audit chain

  /** Appends an event the ledger does not write itself: policy.load, config.change, bot.start,
   * bot.stop, audit.checkpoint, … `body` must be plain JSON. */
  append(event: string, actor: string, body: Record<string, unknown>): AuditEntry {
    if (reservedPrefixes.some((p) => event.startsWith(p))) {
      throw new LedgerInputError(`append: event: ${event} is written by the ledger itself (request.*, exec.*, rule.*)`);
    }
    return this.ctx.write(() => this.ctx.audit(actor, event, body));
  }
  head(): ChainHead {
    return readHead(this.ctx.sql);
  }
  /** Verifies the whole chain on this thread: for short chains and tests. */
  verify(options: { anchors?: readonly Anchor[] } = {}): VerifyResult {
    return verifyChain(this.db, options.anchors);
  }
  /** The same verification, with the same result, spread over worker threads when the chain is
   * long; what `pocketcoder audit verify` runs. */
  verifyAsync(options: { anchors?: readonly Anchor[] } & ParallelOptions = {}): Promise<VerifyResult> {
    return verifyChainInParallel(this.db, options.anchors, options);
  }
  entries(since = 0): Iterable<AuditEntry> {
    return entriesSince(this.db, since);
  }
  tail(n: number): AuditEntry[] {
    return lastEntries(this.db, n);
  }
  history(requestId: string): AuditEntry[] {
    return requestHistory(this.db, requestId);
  }
}

export type { AuditEntry, ChainHead } from "./audit-chain.ts";
export type { ClaimOutcome } from "./executions.ts";
export { type RequestState, canTransition, isTerminal, requestStates } from "./request-states.ts";
export { contentHashOf } from "./requests.ts";
export type {
  ApprovalRequest,
  ApprovalSpec,
  ExecutionRecord,
  ExecutionResult,
  NewRequest,
  NewStandingRule,
  NewVote,
  StandingRuleRecord,
  VoteRecord,
} from "./schemas.ts";
export { LedgerInputError } from "./schemas.ts";
export { LedgerOpenError } from "./database.ts";
export type { RuleQuery } from "./standing-rules.ts";
export { type Anchor, type VerifyResult, parseAnchors } from "./verify-chain.ts";
export type { ParallelOptions } from "./verify-parallel.ts";
export type { VoteOutcome, WithdrawOutcome } from "./votes.ts";

// The grants the bot issued: one per (session, callId), naming the exact command bytes (sha256) and
// cwd, with an expiry. A grant is checked when an exec arrives and consumed, persistently, just
// before the command is typed, so it runs at most once even across runner restarts. A command the
// bot started itself (Grant.start) is joined by the shim's exec for the call, at most once.
import { z } from "zod";
import { Grant, limits, type RefusalReason } from "./protocol.ts";
import { readJson, writeJsonAtomic } from "./state-files.ts";

const StoredGrant = Grant.omit({ start: true }).extend({
  usedAt: z.string().nullable(),
  usedBy: z.string().nullable(),
  /** The bot started the command with the grant; the shim's exec for the call may join it, once. */
  joinable: z.boolean().default(false),
  joinedAt: z.string().nullable().default(null),
});
type StoredGrant = z.infer<typeof StoredGrant>;

/** Used and expired grants are kept this long, so a replay is told apart from a missing grant. */
const tombstoneMs = 3_600_000;

export interface ExecClaim {
  session: string;
  callId: string;
  sha256: string;
  cwd: string;
}

export type GrantCheck = { ok: true } | { ok: false; reason: RefusalReason; message: string };

const key = (session: string, callId: string) => `${session}\n${callId}`;

function sameBytesAndCwd(g: StoredGrant, claim: ExecClaim): GrantCheck {
  if (g.sha256 !== claim.sha256) return { ok: false, reason: "hash_mismatch", message: "the command differs from the approved one (sha256 mismatch)" };
  if (g.cwd !== claim.cwd) return { ok: false, reason: "cwd_mismatch", message: `the approval is for cwd ${g.cwd}, not ${claim.cwd}` };
  return { ok: true };
}

export class GrantStore {
  private grants = new Map<string, StoredGrant>();

  constructor(
    private readonly file: string,
    private readonly now: () => number = Date.now,
  ) {
    const stored = z.array(StoredGrant).safeParse(readJson(file) ?? []);
    for (const g of stored.success ? stored.data : []) this.grants.set(key(g.session, g.callId), g);
    this.prune();
  }

  /** Adds a grant; null on success, otherwise why it was not added. */
  add(grant: Grant): string | null {
    const expires = Date.parse(grant.expiresAt);
    if (expires <= this.now()) return "expiresAt is in the past";
    if (expires - this.now() > limits.grantMaxLifetimeMs) return `expiresAt is more than ${limits.grantMaxLifetimeMs / 3_600_000} h ahead`;
    const existing = this.grants.get(key(grant.session, grant.callId));
    if (existing) {
      if (existing.usedAt) return `the grant for call ${grant.callId} was already used`;
      if (existing.sha256 !== grant.sha256 || existing.cwd !== grant.cwd) return `call ${grant.callId} already has a grant for a different command or cwd; revoke it first`;
    }
    const { start: _start, ...fields } = grant;
    this.grants.set(key(grant.session, grant.callId), { ...fields, usedAt: null, usedBy: null, joinable: false, joinedAt: null });
    this.save();
    return null;
  }

  revoke(session: string, callId: string): boolean {
    const g = this.grants.get(key(session, callId));
    if (!g || g.usedAt) return false;
    this.grants.delete(key(session, callId));
    this.save();
    return true;
  }

  check(claim: ExecClaim): GrantCheck {
    const g = this.grants.get(key(claim.session, claim.callId));
    if (!g) {
      const elsewhere = [...this.grants.values()].some((o) => o.callId === claim.callId);
      return elsewhere
        ? { ok: false, reason: "wrong_session", message: `the approval for call ${claim.callId} belongs to another session` }
        : { ok: false, reason: "no_grant", message: `no approval exists for call ${claim.callId}` };
    }
    if (g.usedAt) return { ok: false, reason: "replayed", message: `the approval for call ${claim.callId} was already used at ${g.usedAt}` };
    if (Date.parse(g.expiresAt) <= this.now()) return { ok: false, reason: "expired", message: `the approval for call ${claim.callId} expired at ${g.expiresAt}` };
    return sameBytesAndCwd(g, claim);
  }

  /** Checks again and marks the grant used, on disk, before anything is typed. `joinable` when
   * the bot started the command: the shim's exec for the call may then join it. */
  consume(claim: ExecClaim, execId: string, joinable = false): GrantCheck {
    const verdict = this.check(claim);
    if (!verdict.ok) return verdict;
    const g = this.grants.get(key(claim.session, claim.callId))!;
    g.usedAt = new Date(this.now()).toISOString();
    g.usedBy = execId;
    g.joinable = joinable;
    this.save();
    return verdict;
  }

  /** The shim asks for a call whose command the bot already started as `execId`: it may join it once,
   * with exactly the approved bytes and cwd. `queued` when the bot's command still waits its turn
   * in the session: its grant is consumed when it is dequeued, not yet. */
  join(claim: ExecClaim, execId: string, queued = false): GrantCheck {
    const g = this.grants.get(key(claim.session, claim.callId));
    const joinable = queued ? g?.usedAt === null : g?.usedBy === execId && g.joinable;
    if (!g || !joinable || g.joinedAt) {
      return { ok: false, reason: "replayed", message: `call ${claim.callId} was already run${g?.joinedAt ? ` and joined at ${g.joinedAt}` : ""}` };
    }
    const same = sameBytesAndCwd(g, claim);
    if (!same.ok) return same;
    g.joinedAt = new Date(this.now()).toISOString();
    this.save();
    return { ok: true };
  }

  prune(): void {
    const before = this.grants.size;
    for (const [k, g] of this.grants) if (Date.parse(g.expiresAt) + tombstoneMs <= this.now()) this.grants.delete(k);
    if (this.grants.size !== before) this.save();
  }

  private save(): void {
    writeJsonAtomic(this.file, [...this.grants.values()]);
  }
}

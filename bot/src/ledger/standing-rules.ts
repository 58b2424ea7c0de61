// Standing "always allow" rules (notes R16): created from a decision, scoped to a room and/or
// project, optionally expiring, revocable, never deleted. Matching them is the policy module's job.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { canonicalJson } from "../canonical-json.ts";
import type { LedgerContext } from "./context.ts";
import { NewStandingRule, type StandingRuleRecord, parseInput } from "./schemas.ts";

interface RuleRow {
  id: string;
  tool: string;
  argv_prefix: string;
  room: string | null;
  project: string | null;
  created_by: string;
  source_request: string | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  revoked_by: string | null;
}

const ArgvPrefix = z.array(z.string());

function toRule(r: RuleRow): StandingRuleRecord {
  return {
    id: r.id,
    tool: r.tool,
    argvPrefix: ArgvPrefix.parse(JSON.parse(r.argv_prefix)),
    room: r.room,
    project: r.project,
    expiresAt: r.expires_at,
    createdBy: r.created_by,
    sourceRequest: r.source_request,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by,
  };
}

export function getStandingRule(ctx: LedgerContext, id: string): StandingRuleRecord | null {
  const row = ctx.sql("SELECT * FROM standing_rules WHERE id = ?").get(id) as RuleRow | undefined;
  return row ? toRule(row) : null;
}

export function createStandingRule(ctx: LedgerContext, input: NewStandingRule): StandingRuleRecord {
  const rule = parseInput(NewStandingRule, input, "createStandingRule");
  return ctx.write(() => {
    const createdAt = ctx.now();
    const id = rule.id ?? randomUUID();
    ctx
      .sql(
        `INSERT INTO standing_rules (id, tool, argv_prefix, room, project, created_by, source_request, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(id, rule.tool, canonicalJson(rule.argvPrefix), rule.room, rule.project, rule.createdBy, rule.sourceRequest, createdAt, rule.expiresAt);
    const { id: _given, ...fields } = rule;
    ctx.audit(rule.createdBy, "rule.create", { ...fields, createdAt, ruleId: id });
    return getStandingRule(ctx, id)!;
  });
}

export interface RuleQuery {
  /** Only rules in force at this time (not expired, not revoked); omit for every rule ever made. */
  at?: number;
  /** Only rules that apply in this room: scoped to it or to any room. */
  room?: string;
  /** Only rules that apply to this project: scoped to it or to any project. */
  project?: string;
}

export function listStandingRules(ctx: LedgerContext, query: RuleQuery = {}): StandingRuleRecord[] {
  const where: string[] = [];
  const params: unknown[] = [];
  if (query.at !== undefined) {
    where.push("(expires_at IS NULL OR expires_at > ?)", "(revoked_at IS NULL OR revoked_at > ?)");
    params.push(query.at, query.at);
  }
  if (query.room !== undefined) {
    where.push("(room IS NULL OR room = ?)");
    params.push(query.room);
  }
  if (query.project !== undefined) {
    where.push("(project IS NULL OR project = ?)");
    params.push(query.project);
  }
  const sql = `SELECT * FROM standing_rules ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at, rowid`;
  return (ctx.sql(sql).all(...params) as RuleRow[]).map(toRule);
}

/** Revokes a rule from now on; false when it does not exist or was already revoked. */
export function revokeStandingRule(ctx: LedgerContext, id: string, actor: string): boolean {
  return ctx.write(() => {
    const at = ctx.now();
    if (ctx.sql("UPDATE standing_rules SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL").run(at, actor, id).changes !== 1) return false;
    ctx.audit(actor, "rule.revoke", { revokedAt: at, ruleId: id });
    return true;
  });
}

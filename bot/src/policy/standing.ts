// Proposes a standing ("always allow") rule from an ask decision, or says why there cannot be
// one. Never for the dangerous class, never for anything but one plain command, and never with a
// prefix that a deny or dangerous rule could also match (notes R16).
import { randomUUID } from "node:crypto";
import { analyse } from "./analyse.ts";
import type { CompiledRule, Policy } from "./compile.ts";
import { findForbiddenChar } from "./control-chars.ts";
import { evaluate, MAX_COMMAND_BYTES, type Decision, type PolicyRequest } from "./evaluate.ts";
import { globsIntersect, type GlobToken } from "./glob.ts";
import { UNKNOWN_WORKSPACE } from "./paths.ts";
import { isDangerousRule, plainCommand, type StandingRule } from "./standing-match.ts";

export const DEFAULT_STANDING_TTL_MS = 24 * 3_600_000;

export interface StandingOptions {
  policy: Policy;
  now?: number;
  /** How long the rule lives; null for no expiry. Default 24 hours. */
  ttlMs?: number | null;
  /** How many leading words of the command the rule covers; default all of them. */
  prefixLength?: number;
  id?: string;
  /** Scope; defaults to the request's room and project. null means any. */
  room?: string | null;
  project?: string | null;
}

export type StandingProposal = { ok: true; rule: StandingRule } | { ok: false; reason: string };

function refuse(reason: string): StandingProposal {
  return { ok: false, reason: `No standing rule: ${reason}.` };
}

function literal(text: string): GlobToken[] {
  return text.split("").map((c) => ({ t: "lit", c }));
}

/** Whether a deny or dangerous rule could match some command that starts with `prefix`. */
function conflicts(rule: CompiledRule, prefix: string[]): boolean {
  // Path-only rules are checked at every evaluation; pipes and substitutions (fedBy) never reach
  // a standing rule, which only covers one plain command.
  if (!rule.commandLevel || rule.fedBy) return false;
  if (rule.argv) {
    const n = Math.min(rule.argv.length, prefix.length);
    return rule.argv.slice(0, n).every((w, i) => w === prefix[i]);
  }
  if (rule.command) {
    const exact = literal(prefix.join(" "));
    const extended: GlobToken[] = [...exact, { t: "lit", c: " " }, { t: "star" }];
    return rule.command.globs.some((g) => g.alternatives.some((alt) => globsIntersect(alt, exact, false, false) || globsIntersect(alt, extended, false, false)));
  }
  return true;
}

export function standingRuleFor(request: PolicyRequest, decision: Decision, options: StandingOptions): StandingProposal {
  const { policy } = options;
  if (request.tool !== "bash") return refuse("standing rules cover bash commands only");
  if (decision.decision === "deny") return refuse("a denied command cannot be allowed always");
  if (decision.decision === "allow") return refuse("the command is already allowed without asking");
  if (decision.policyHash !== policy.hash) return refuse("the policy changed since this decision; evaluate the command again");
  const text = request.command ?? "";
  if (findForbiddenChar(text) || Buffer.byteLength(text, "utf8") > MAX_COMMAND_BYTES) return refuse("the command has hidden characters or is too long");
  const fresh = evaluate(request, { policy });
  const rule = fresh.rule ? (policy.rules.find((r) => r.id === fresh.rule) ?? null) : null;
  if (fresh.decision !== "ask") return refuse(`the command is now ${fresh.decision === "deny" ? "denied" : "allowed"}`);
  if (fresh.rule?.startsWith("builtin:")) return refuse(fresh.reason.replace(/^Needs approval: /, "").split(". Needs")[0]!);
  if (isDangerousRule(rule) || fresh.risk === "high" || fresh.risk === "critical")
    return refuse(`it belongs to the dangerous class (rule "${fresh.rule}"), which is approved each time`);
  const analysis = analyse(text, { cwd: request.cwd ?? request.workspace ?? UNKNOWN_WORKSPACE });
  const unit = plainCommand(request, analysis, analysis.floors);
  if (typeof unit === "string") return refuse(`it is not one plain command: ${unit}`);
  const length = options.prefixLength ?? unit.argv.length;
  if (!Number.isInteger(length) || length < 1 || length > unit.argv.length) return refuse(`the prefix must be 1 to ${unit.argv.length} words`);
  const words = unit.argv.slice(0, length);
  if (words.some((w) => w.dynamic || w.glob)) return refuse("the covered words must be literal (no wildcards or expansions)");
  const prefix = words.map((w) => w.value);
  const clash = policy.rules.find((r) => isDangerousRule(r) && conflicts(r, prefix));
  if (clash) return refuse(`\`${prefix.join(" ")} …\` could also match the dangerous rule "${clash.id}"; approve those commands each time, or cover more words`);
  const now = options.now ?? Date.now();
  const ttl = options.ttlMs === undefined ? DEFAULT_STANDING_TTL_MS : options.ttlMs;
  return {
    ok: true,
    rule: {
      id: options.id ?? randomUUID(),
      tool: "bash",
      argvPrefix: prefix,
      room: options.room !== undefined ? options.room : (request.room ?? null),
      project: options.project !== undefined ? options.project : (request.project ?? null),
      expiresAt: ttl === null ? null : now + ttl,
    },
  };
}

// Whether an approved request may become a standing "always allow" rule, and its scope (notes R16):
// bash only; one plain command (no operators, substitutions, redirections, env prefixes or floors);
// never for a dangerous, high- or critical-risk rule; never for strict rules. The prefix is the whole
// literal argv, so the rule covers exactly the command people saw and nothing longer.
import { analyse } from "../policy/analyse.ts";
import type { Policy } from "../policy/compile.ts";
import { isDangerousRule, plainCommand } from "../policy/standing-match.ts";
import type { ApprovalRequest } from "../ledger/ledger.ts";

/** How long a standing rule lasts (R16's default scope: 24 h). */
export const standingRuleLifetimeMs = 24 * 3_600_000;

export type StandingProposal = { ok: true; argvPrefix: string[] } | { ok: false; why: string };

export function proposeStandingRule(request: ApprovalRequest, policy: Policy): StandingProposal {
  if (request.tool !== "bash" || request.inputKind !== "command") return { ok: false, why: "only shell commands can be always allowed" };
  if (request.approval.strict) return { ok: false, why: "this rule is strict, so each run needs its own approval" };
  if (request.risk === "high" || request.risk === "critical") return { ok: false, why: `its risk is ${request.risk}` };
  const rule = request.rule ? (policy.rules.find((r) => r.id === request.rule) ?? null) : null;
  if (request.rule?.startsWith("builtin:")) return { ok: false, why: "a built-in safety check asked for it" };
  if (isDangerousRule(rule)) return { ok: false, why: `rule ${request.rule} marks it dangerous` };
  const analysis = analyse(request.input, { cwd: request.cwd });
  const unit = plainCommand({ tool: "bash", command: request.input }, analysis, analysis.floors);
  if (typeof unit === "string") return { ok: false, why: unit };
  if (unit.argv.some((a) => a.dynamic || a.glob)) return { ok: false, why: "it has words whose value is only known when it runs" };
  return { ok: true, argvPrefix: unit.argv.map((a) => a.value) };
}

// Standing ("always allow") rules: their shape and how a request matches one. Storage, listing
// and revocation belong to the ledger; this module only decides whether an active rule applies.
// Matching is structural (notes R16): the command must be exactly one simple command, with no
// operators, substitutions, redirections, env prefixes or floors, whose argv starts with the
// rule's prefix word for word. A standing rule only turns an ordinary ask into an allow.
import { z } from "zod";
import type { CompiledRule } from "./compile.ts";
import type { PolicyRequest, Verdict } from "./evaluate.ts";
import type { Analysis, CommandUnit, Floor } from "./model.ts";

export const StandingRule = z.object({
  id: z.string().min(1),
  tool: z.string().min(1),
  argvPrefix: z.array(z.string().min(1)).min(1),
  room: z.string().nullable(),
  project: z.string().nullable(),
  expiresAt: z.number().int().nullable(),
});
export type StandingRule = z.infer<typeof StandingRule>;

/** Rules whose matches no standing rule may cover. */
export function isDangerousRule(rule: CompiledRule | null): boolean {
  if (!rule) return false;
  return rule.decision === "deny" || rule.dangerous || rule.risk === "high" || rule.risk === "critical";
}

/** The single plain command a request consists of, or why it is not one. */
export function plainCommand(request: PolicyRequest, analysis: Analysis, floors: Floor[]): CommandUnit | string {
  if (floors.length) return floors[0]!.why;
  const units = analysis.units;
  if (units.length !== 1 || units[0]!.kind !== "command") return "it is more than one simple command (operators, pipes or redirections)";
  const unit = units[0]!;
  if (unit.floors.length) return unit.floors[0]!.why;
  if (unit.assignments.length) return "it sets environment variables";
  if (unit.argv.length === 0) return "it runs no command";
  if (unit.text !== (request.command ?? "").trim()) return "it has operators, redirections or comments around the command";
  return unit;
}

export function prefixMatches(prefix: string[], unit: CommandUnit): boolean {
  if (unit.argv.length < prefix.length) return false;
  return prefix.every((word, i) => {
    const arg = unit.argv[i]!;
    return !arg.dynamic && !arg.glob && arg.value === word;
  });
}

export function findStandingRule(
  request: PolicyRequest,
  analysis: Analysis,
  verdicts: Verdict[],
  floors: Floor[],
  context: { standing?: StandingRule[]; now?: number },
): StandingRule | null {
  if (!context.standing?.length || verdicts.length !== 1) return null;
  const v = verdicts[0]!;
  if (v.decision !== "ask" || v.floor || isDangerousRule(v.rule)) return null;
  const unit = plainCommand(request, analysis, floors);
  if (typeof unit === "string") return null;
  const now = context.now ?? Date.now();
  return (
    context.standing.find(
      (s) =>
        s.tool === request.tool &&
        (s.room === null || s.room === request.room) &&
        (s.project === null || s.project === request.project) &&
        (s.expiresAt === null || s.expiresAt > now) &&
        prefixMatches(s.argvPrefix, unit),
    ) ?? null
  );
}

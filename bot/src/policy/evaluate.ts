// evaluate(request, context) → Decision. Pure: the same request, policy, standing rules and
// clock give the same decision. Every unit of the command is judged on its own; the strongest
// result wins (deny > ask > allow), and built-in floors keep dangerous shapes from being
// allowed unattended whatever the rules say.
import { z } from "zod";
import { analyse } from "./analyse.ts";
import type { Approval, CompiledRule, Policy } from "./compile.ts";
import { describeForbiddenChar, findForbiddenChar, makeVisible } from "./control-chars.ts";
import { globCovers, type GlobList, globsIntersect, shellGlobAlternatives } from "./glob.ts";
import type { Analysis, CommandUnit, Floor, Layer, RedirectUnit, Unit } from "./model.ts";
import { certainlyUnder, pathListMatches, pathOperand, type PathOperand, pathOperands, type Certainty, type PathVars, UNKNOWN_WORKSPACE } from "./paths.ts";
import { buildReason } from "./reason.ts";
import { layerText } from "./render.ts";
import type { DecisionKind, Risk } from "./schema.ts";
import { findStandingRule, type StandingRule } from "./standing-match.ts";
import type { Arg } from "./words.ts";

export const MAX_COMMAND_BYTES = 16 * 1024;
/** Longer text is not even parsed; it asks as too long. */
const MAX_PARSE_BYTES = 1024 * 1024;

export const PolicyRequest = z.object({
  tool: z.string().min(1),
  command: z.string().optional(),
  paths: z.array(z.string()).optional(),
  room: z.string().optional(),
  requester: z.string().optional(),
  project: z.string().optional(),
  cwd: z.string().optional(),
  workspace: z.string().optional(),
});
export type PolicyRequest = z.infer<typeof PolicyRequest>;

export interface EvaluateContext {
  policy: Policy;
  /** Active standing ("always allow") rules; expired ones are ignored. */
  standing?: StandingRule[];
  /** The bot's clock, for standing-rule expiry. */
  now?: number;
}

export interface DecisionPart {
  command: string;
  decision: DecisionKind;
  rule: string | null;
}

export interface Decision {
  decision: DecisionKind;
  rule: string | null;
  risk: string | null;
  parts: DecisionPart[];
  reason: string;
  approval?: Approval;
  policyHash: string;
}

/** How one unit was judged. */
export interface Verdict {
  text: string;
  decision: DecisionKind;
  rule: CompiledRule | null;
  /** Set when a floor, not a rule, made this an ask. */
  floor: Floor | null;
  /** Set when a standing rule allowed it. */
  standing?: StandingRule;
}

const RANK: Record<DecisionKind, number> = { allow: 0, ask: 1, deny: 2 };
const RISK_RANK: Record<Risk, number> = { low: 0, medium: 1, high: 2, critical: 3 };

export function ruleName(v: Verdict): string | null {
  if (v.standing) return `standing:${v.standing.id}`;
  if (v.rule) return v.rule.id;
  return v.floor ? `builtin:${v.floor.id}` : null;
}

function approvalOf(v: Verdict, policy: Policy): Approval {
  return v.rule?.approval ?? policy.defaults.approval;
}

/** Dangerous, risk, quorum, strictness, no self-approval: the heavier ask wins a tie. */
function weight(v: Verdict, policy: Policy): number[] {
  const a = approvalOf(v, policy);
  return [v.rule?.dangerous ? 1 : 0, RISK_RANK[a.risk], a.quorum, a.strict ? 1 : 0, a.selfApproval ? 0 : 1];
}

/** Whether `a` should replace `b` as the strongest verdict. */
function stronger(a: Verdict, b: Verdict, policy: Policy): boolean {
  if (RANK[a.decision] !== RANK[b.decision]) return RANK[a.decision] > RANK[b.decision];
  if (a.decision === "ask") {
    const wa = weight(a, policy);
    const wb = weight(b, policy);
    for (let i = 0; i < wa.length; i++) if (wa[i] !== wb[i]) return wa[i]! > wb[i]!;
  }
  if (a.rule && b.rule) return a.rule.order < b.rule.order;
  return a.rule !== null && b.rule === null;
}

interface ToolRules {
  /** Per command name: the rules naming it, then the rules that may match any name. */
  byHead: Map<string, CompiledRule[]>;
  anyHead: CompiledRule[];
  /** Rules that do not look at a command's words: for redirections, bare assignments, other tools. */
  wordless: CompiledRule[];
}

const toolCache = new WeakMap<Policy, Map<string, ToolRules>>();

function rulesFor(policy: Policy, tool: string): ToolRules {
  let perTool = toolCache.get(policy);
  if (!perTool) toolCache.set(policy, (perTool = new Map()));
  let entry = perTool.get(tool);
  if (entry) return entry;
  const all = policy.rules.filter((r) => !r.tools || r.tools.test(tool));
  const byHead = new Map<string, CompiledRule[]>();
  const anyHead: CompiledRule[] = [];
  for (const r of all) {
    if (r.redirect) continue;
    if (!r.heads) anyHead.push(r);
    else for (const h of r.heads) byHead.set(h, [...(byHead.get(h) ?? []), r]);
  }
  for (const [h, list] of byHead) byHead.set(h, [...list, ...anyHead]);
  entry = { byHead, anyHead, wordless: all.filter((r) => !r.commandLevel) };
  perTool.set(tool, entry);
  return entry;
}

interface Env {
  policy: Policy;
  request: PolicyRequest;
  vars: PathVars;
}

function contextMatches(rule: CompiledRule, request: PolicyRequest): boolean {
  if (rule.rooms && !(request.room !== undefined && rule.rooms.test(request.room))) return false;
  if (rule.requesters && !(request.requester !== undefined && rule.requesters.test(request.requester))) return false;
  if (rule.projects && !(request.project !== undefined && rule.projects.test(request.project))) return false;
  return true;
}

function modeOf(rule: CompiledRule): Certainty {
  return rule.decision === "allow" ? "certainly" : "possibly";
}

function argMatches(list: GlobList, arg: Arg, mode: Certainty): boolean {
  if (arg.glob) {
    const shell = shellGlobAlternatives(arg.value, arg.mask ?? "");
    const globs = list.globs;
    if (mode === "certainly") return shell.every((tokens) => globs.some((g) => g.alternatives.some((alt) => globCovers(alt, tokens, false))));
    return list.test(arg.value) || globs.some((g) => g.alternatives.some((alt) => shell.some((tokens) => globsIntersect(alt, tokens, false, true))));
  }
  if (arg.dynamic && mode === "certainly") return false;
  return list.test(arg.value);
}

function isUncertain(arg: Arg): boolean {
  return arg.glob || arg.dynamic;
}

function anyArgMatches(list: GlobList, argv: Arg[], from: number, mode: Certainty): boolean {
  for (let i = from; i < argv.length; i++) if (argMatches(list, argv[i]!, mode)) return true;
  return false;
}

const operandCache = new WeakMap<Layer, PathOperand[]>();

/** A layer's path operands, resolved once however many rules look at them. */
function operandsOf(layer: Layer, base: string): PathOperand[] {
  let ops = operandCache.get(layer);
  if (!ops) {
    ops = pathOperands(layer.argv).map((a) => pathOperand(a, base));
    operandCache.set(layer, ops);
  }
  return ops;
}

function fedBy(list: GlobList, unit: CommandUnit): boolean {
  for (const source of unit.sources) for (const l of source.layers) if (list.test(layerText(l))) return true;
  return false;
}

function layerMatches(rule: CompiledRule, layer: Layer, unit: CommandUnit, env: Env, mode: Certainty): boolean {
  const argv = layer.argv;
  if (rule.argv) {
    if (argv.length < rule.argv.length) return false;
    for (let i = 0; i < rule.argv.length; i++) {
      const a = argv[i]!;
      if (a.dynamic || a.glob || a.value !== rule.argv[i]) return false;
    }
  }
  if (rule.command && !rule.command.test(layerText(layer))) return false;
  if (rule.hasArg && !anyArgMatches(rule.hasArg, argv, 1, mode)) return false;
  if (rule.lacksArg && anyArgMatches(rule.lacksArg, argv, 1, mode === "certainly" ? "possibly" : "certainly")) return false;
  if (rule.onlyArgs) {
    for (let i = rule.argv?.length ?? 1; i < argv.length; i++) if (!argMatches(rule.onlyArgs, argv[i]!, mode)) return false;
  }
  if (rule.paths) {
    const paths = rule.paths;
    let hit = false;
    for (const op of operandsOf(layer, unit.base)) if ((hit = pathListMatches(paths, op, unit.base, env.vars, mode))) break;
    if (!hit) return false;
  }
  if (rule.fedBy && !fedBy(rule.fedBy, unit)) return false;
  return true;
}

function noRule(policy: Policy, text: string): Verdict {
  return { text, decision: policy.defaults.decision, rule: null, floor: null };
}

type Matcher = (rule: CompiledRule, mode: Certainty) => boolean;

/**
 * The strongest matching rule. A deny rule denies only when it certainly matches; when it only
 * might (a wildcard could expand to a denied file) the unit asks instead, naming the rule.
 * `uncertain` says whether any word is a glob or only known at run time: without one, both
 * modes give the same answer and a failed certain match is not tried again.
 */
function best(candidates: Iterable<CompiledRule>, matches: Matcher, text: string, env: Env, uncertain: boolean): Verdict | null {
  let top: Verdict | null = null;
  for (const rule of candidates) {
    if (!contextMatches(rule, env.request)) continue;
    let v: Verdict | null = null;
    if (rule.decision !== "deny") {
      if (matches(rule, modeOf(rule))) v = { text, decision: rule.decision, rule, floor: null };
    } else if (matches(rule, "certainly")) v = { text, decision: "deny", rule, floor: null };
    else if (uncertain && matches(rule, "possibly")) {
      const why = `it may touch what rule "${rule.id}" denies, depending on what its wildcards expand to`;
      v = { text, decision: "ask", rule, floor: { id: "uncertain", why } };
    }
    if (v && (!top || stronger(v, top, env.policy))) top = v;
  }
  return top;
}

/** Floors turn an allow, or an ask that no rule asked for, into an ask that names the floor. */
function withFloors(v: Verdict, floors: Floor[]): Verdict {
  if (floors.length === 0 || v.floor || !(v.decision === "allow" || (v.decision === "ask" && !v.rule))) return v;
  return { text: v.text, decision: "ask", rule: null, floor: floors[0]! };
}

function judgeCommand(unit: CommandUnit, env: Env, rules: ToolRules): Verdict {
  const floors = [...unit.floors];
  let top: Verdict | null = null;
  if (unit.layers.length === 0) {
    top = best(rules.wordless, (r) => !r.paths && !r.redirect, unit.text, env, false);
  }
  for (const layer of unit.layers) {
    const candidates = rules.byHead.get(layer.name) ?? rules.anyHead;
    const v = best(candidates, (r, mode) => layerMatches(r, layer, unit, env, mode), unit.text, env, layer.argv.some(isUncertain)) ?? noRule(env.policy, unit.text);
    const allowing = v.decision === "allow" ? v.rule : null;
    if (layer.explicit && !layer.explicit.every((w) => allowing?.literalWords.has(w))) {
      const shown = [layer.name, ...layer.explicit.filter((w) => w !== layer.name)].join(" ");
      const named = layer.explicit.map((w) => `"${w}"`).join(" and ");
      floors.push({ id: "wrapper", why: `\`${shown}\` runs another command; only a rule that names ${named} can allow it` });
    }
    const bad = unit.assignments.find((a) => a.dynamic || !allowing?.env?.test(a.value));
    if (bad) floors.push({ id: "env-prefix", why: `it sets the environment variable ${bad.value}, which can change what the command does` });
    if (!top || stronger(v, top, env.policy)) top = v;
  }
  return withFloors(top ?? noRule(env.policy, unit.text), floors);
}

function judgeRedirect(unit: RedirectUnit, env: Env, rules: ToolRules): Verdict {
  const floors = [...unit.floors];
  const target = pathOperand(unit.target, unit.base);
  const matches = (r: CompiledRule, mode: Certainty) => {
    if (r.redirect && (!unit.write || !pathListMatches(r.redirect, target, unit.base, env.vars, mode))) return false;
    if (r.paths && !pathListMatches(r.paths, target, unit.base, env.vars, mode)) return false;
    return true;
  };
  const top = best(rules.wordless, matches, unit.text, env, isUncertain(unit.target)) ?? (unit.write ? noRule(env.policy, unit.text) : { text: unit.text, decision: "allow" as const, rule: null, floor: null });
  if (unit.write && top.decision === "allow" && !top.rule?.redirect && !certainlyUnder(env.vars.workspace, unit.target, unit.base))
    floors.push({ id: "redirect-outside", why: `it writes to \`${unit.target.text}\`, outside the project` });
  return withFloors(top, floors);
}

/** Parts for other tools: one per path (or one for the call when it names none). */
function judgeToolCall(request: PolicyRequest, env: Env): Verdict[] {
  const rules = rulesFor(env.policy, request.tool).wordless.filter((r) => !r.redirect);
  const paths = request.paths?.length ? request.paths : [null];
  return paths.map((p) => {
    const text = p ?? request.command ?? request.tool;
    const op = p === null ? null : pathOperand({ value: p, dynamic: false, glob: false, mask: null, text: p }, env.vars.cwd);
    const matches = (r: CompiledRule, mode: Certainty) => !r.paths || (op !== null && pathListMatches(r.paths, op, env.vars.cwd, env.vars, mode));
    return best(rules, matches, `${request.tool} ${text}`, env, false) ?? noRule(env.policy, `${request.tool} ${text}`);
  });
}

function mergeApproval(verdicts: Verdict[], top: Verdict, policy: Policy): Approval {
  const asks = verdicts.filter((v) => v.decision === "ask").map((v) => approvalOf(v, policy));
  const base = approvalOf(top, policy);
  return {
    ...base,
    quorum: Math.max(...asks.map((a) => a.quorum)),
    selfApproval: asks.every((a) => a.selfApproval),
    strict: asks.some((a) => a.strict),
    expiresInMs: Math.min(...asks.map((a) => a.expiresInMs)),
    risk: asks.map((a) => a.risk).reduce((x, y) => (RISK_RANK[y] > RISK_RANK[x] ? y : x)),
  };
}

function decide(verdicts: Verdict[], env: Env, globalFloors: Floor[] = []): Decision {
  const { policy } = env;
  let top = verdicts[0]!;
  for (const v of verdicts) if (stronger(v, top, policy)) top = v;
  // Texts with hidden characters are denied before they are parsed; only that part needs escaping.
  const visible = (v: Verdict) => (v.floor?.id === "control-character" ? makeVisible(v.text) : v.text);
  const parts: DecisionPart[] = verdicts.map((v) => ({ command: visible(v), decision: v.decision, rule: ruleName(v) }));
  const decision: Decision = { decision: top.decision, rule: ruleName(top), risk: null, parts, reason: "", policyHash: policy.hash };
  if (top.decision === "ask") {
    decision.approval = mergeApproval(verdicts, top, policy);
    decision.risk = decision.approval.risk;
  } else decision.risk = top.rule?.risk ?? null;
  decision.reason = buildReason(decision, top, verdicts, globalFloors);
  return decision;
}

function varsFor(request: PolicyRequest): PathVars {
  const workspace = request.workspace ?? request.cwd ?? UNKNOWN_WORKSPACE;
  return { workspace, cwd: request.cwd ?? workspace };
}

function controlCharDenial(text: string, what: string, env: Env): Decision | null {
  const found = findForbiddenChar(text);
  if (!found) return null;
  const v: Verdict = { text, decision: "deny", rule: null, floor: { id: "control-character", why: `${what} contains ${describeForbiddenChar(found)}` } };
  return decide([v], env);
}

export function evaluate(request: PolicyRequest, context: EvaluateContext): Decision {
  const env: Env = { policy: context.policy, request, vars: varsFor(request) };
  for (const p of request.paths ?? []) {
    const denial = controlCharDenial(p, "the path", env);
    if (denial) return denial;
  }
  const text = request.command ?? "";
  const denial = controlCharDenial(text, request.tool === "bash" ? "the command" : "the request", env);
  if (denial) return denial;
  if (request.tool !== "bash") return decide(judgeToolCall(request, env), env);
  const bytes = Buffer.byteLength(text, "utf8");
  const globalFloors: Floor[] = [];
  if (bytes > MAX_COMMAND_BYTES) globalFloors.push({ id: "too-long", why: `it is ${bytes} bytes long, over the ${MAX_COMMAND_BYTES}-byte limit for unattended commands` });
  if (bytes > MAX_PARSE_BYTES) return decide([{ text: `${text.slice(0, 80)}…`, decision: "ask", rule: null, floor: globalFloors[0]! }], env);
  let analysis: Analysis;
  try {
    analysis = analyse(text, { cwd: env.vars.cwd });
  } catch (err) {
    // Nesting deep enough to exhaust the stack somewhere the depth limit does not reach.
    if (!(err instanceof RangeError)) throw err;
    return decide([{ text: summarise(text), decision: "ask", rule: null, floor: { id: "too-deep", why: "it nests too deeply to follow" } }], env);
  }
  globalFloors.push(...analysis.floors);
  const rules = rulesFor(env.policy, "bash");
  const verdicts = analysis.units.map((u: Unit) => (u.kind === "command" ? judgeCommand(u, env, rules) : judgeRedirect(u, env, rules)));
  if (verdicts.length === 0 && globalFloors.length === 0) globalFloors.push({ id: "empty", why: "it contains no command" });
  for (const f of globalFloors) verdicts.push({ text: summarise(text), decision: "ask", rule: null, floor: f });
  const standing = findStandingRule(request, analysis, verdicts, globalFloors, context);
  if (standing) return decide([{ ...verdicts[0]!, decision: "allow", standing }], env);
  return decide(verdicts, env, globalFloors);
}

function summarise(text: string): string {
  const oneLine = text.trim().replace(/\s*\n\s*/g, " ⏎ ");
  return oneLine.length > 120 ? `${oneLine.slice(0, 117)}…` : oneLine;
}

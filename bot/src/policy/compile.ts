// Turns validated policy files into a Policy: rules with their globs compiled once, defaults
// merged, approval settings resolved, rules indexed by command name, and the policy hash.
import { hash as digest } from "node:crypto";
import { canonicalJson } from "../canonical-json.ts";
import { parseDuration } from "./duration.ts";
import { type CompiledGlob, compileGlob, compileGlobList, type GlobList, GlobSyntaxError, type GlobToken, pathAlternatives } from "./glob.ts";
import {
  ASK_ONLY_FIELDS,
  BASH_ONLY_FIELDS,
  COMMAND_FIELDS,
  DEFAULT_EXPIRY,
  type Approvers,
  type DecisionKind,
  type Defaults,
  type PolicyFile,
  type Risk,
  type RuleSpec,
} from "./schema.ts";

export interface Approval {
  quorum: number;
  minPowerLevel?: number;
  users?: string[];
  selfApproval: boolean;
  strict: boolean;
  expiresInMs: number;
  risk: Risk;
}

export interface ResolvedDefaults {
  decision: DecisionKind;
  approval: Approval;
}

export interface PathList {
  include: GlobList | null;
  exclude: GlobList | null;
  /** Token alternatives per glob (placeholders unbound), for intersecting with shell globs. */
  includeTokens: GlobToken[][][];
  excludeTokens: GlobToken[][][];
}

export interface CompiledRule {
  id: string;
  file: string;
  /** Position in load order; ties between equally strong rules go to the earlier one. */
  order: number;
  spec: RuleSpec;
  decision: DecisionKind;
  risk: Risk | null;
  dangerous: boolean;
  approval: Approval | null;
  tools: GlobList | null;
  rooms: GlobList | null;
  requesters: GlobList | null;
  projects: GlobList | null;
  command: GlobList | null;
  argv: string[] | null;
  hasArg: GlobList | null;
  lacksArg: GlobList | null;
  onlyArgs: GlobList | null;
  paths: PathList | null;
  redirect: PathList | null;
  fedBy: GlobList | null;
  env: GlobList | null;
  /** Looks at a command's words (so it never matches a redirection or another tool). */
  commandLevel: boolean;
  /** Command names this rule can match, or null when it may match any name. */
  heads: string[] | null;
  /** Literal words the rule names, so wrappers like xargs can demand an explicit allow. */
  literalWords: Set<string>;
}

export interface Policy {
  rules: CompiledRule[];
  defaults: ResolvedDefaults;
  hash: string;
  files: string[];
  /** Filled lazily by the evaluator: rules per tool id, and bash rules per command name. */
  cache: { byTool: Map<string, CompiledRule[]>; byHead: Map<string, CompiledRule[]> };
}

export class PolicyError extends Error {
  override name = "PolicyError";
}

export interface SourceFile {
  /** The name used in messages, e.g. `policies/team.yaml`. */
  name: string;
  data: PolicyFile;
}

const FALLBACK_APPROVERS: Approvers = { minPowerLevel: 50 };

export function ruleLabel(file: string, index: number, id: unknown): string {
  return typeof id === "string" && id ? `${file}: rule ${index + 1} ("${id}")` : `${file}: rule ${index + 1}`;
}

function mergeDefaults(files: SourceFile[]): Defaults {
  const merged: Defaults = {};
  for (const f of files) Object.assign(merged, f.data.defaults ?? {});
  return merged;
}

function approvalFrom(d: Defaults): Approval {
  const approvers = d.approvers ?? FALLBACK_APPROVERS;
  return {
    quorum: d.quorum ?? 1,
    ...(approvers.minPowerLevel !== undefined ? { minPowerLevel: approvers.minPowerLevel } : {}),
    ...(approvers.users ? { users: approvers.users } : {}),
    selfApproval: d.selfApproval ?? true,
    strict: d.strict ?? false,
    expiresInMs: parseDuration(d.expires ?? DEFAULT_EXPIRY)!,
    risk: d.risk ?? "medium",
  };
}

export function compilePolicy(files: SourceFile[]): Policy {
  const defaultsSpec = mergeDefaults(files);
  const defaults: ResolvedDefaults = { decision: defaultsSpec.decision ?? "ask", approval: approvalFrom(defaultsSpec) };
  const rules: CompiledRule[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    file.data.rules.forEach((spec, index) => {
      const label = ruleLabel(file.name, index, spec.id);
      const earlier = seen.get(spec.id);
      if (earlier) throw new PolicyError(`${label}: field "id": "${spec.id}" is already used by ${earlier}`);
      seen.set(spec.id, label);
      rules.push(compileRule(spec, file.name, rules.length, label, defaultsSpec));
    });
  }
  // Over what the rules mean, not their YAML formatting or comments; the audit chain's encoding, so
  // the hash in a `policy.load` entry is recomputed the same way as the entry's own.
  const hash = digest("sha256", canonicalJson({ version: 1, defaults: defaultsSpec, rules: files.flatMap((f) => f.data.rules) }));
  return { rules, defaults, hash, files: files.map((f) => f.name), cache: { byTool: new Map(), byHead: new Map() } };
}

function fail(label: string, field: string, message: string): never {
  throw new PolicyError(`${label}: field "${field}": ${message}`);
}

function globList(label: string, field: string, patterns: string[] | undefined, flavor: "command" | "path"): GlobList | null {
  const list = globs(label, field, patterns, flavor);
  return list ? compileGlobList(list) : null;
}

function globs(label: string, field: string, patterns: string[] | undefined, flavor: "command" | "path"): CompiledGlob[] | null {
  if (!patterns) return null;
  return patterns.map((p, i) => {
    try {
      return compileGlob(flavor === "path" ? homeToTilde(p) : p, flavor);
    } catch (err) {
      if (err instanceof GlobSyntaxError) fail(label, patterns.length > 1 ? `${field}[${i}]` : field, err.message);
      throw err;
    }
  });
}

/** `$HOME/x` and `${HOME}/x` in a rule mean the same as `~/x`, which is how words are normalised. */
export function homeToTilde(p: string): string {
  return p.replace(/^(?:!?)(\$HOME|\$\{HOME\})(?=\/|$)/, (m, home: string) => m.replace(home, "~"));
}

function pathList(label: string, field: string, patterns: string[] | undefined): PathList | null {
  if (!patterns) return null;
  const include = patterns.filter((p) => !p.startsWith("!"));
  const exclude = patterns.filter((p) => p.startsWith("!")).map((p) => p.slice(1));
  if (exclude.some((p) => p === "")) fail(label, field, 'a "!" must be followed by a glob');
  const inc = globs(label, field, include.length ? include : undefined, "path") ?? [];
  const exc = globs(label, field, exclude.length ? exclude : undefined, "path") ?? [];
  const tokens = (list: CompiledGlob[]) => list.map((g) => g.alternatives.flatMap(pathAlternatives));
  return {
    include: inc.length ? compileGlobList(inc) : null,
    exclude: exc.length ? compileGlobList(exc) : null,
    includeTokens: tokens(inc),
    excludeTokens: tokens(exc),
  };
}

function literalWordsOf(spec: RuleSpec): Set<string> {
  const words = new Set<string>(spec.argv ?? []);
  for (const p of [...(spec.command ?? []), ...(spec.hasArg ?? [])]) for (const w of p.split(" ")) if (!/[*?[{\\]/.test(w)) words.add(w);
  return words;
}

function compileRule(spec: RuleSpec, file: string, order: number, label: string, defaults: Defaults): CompiledRule {
  const present = (f: string) => (spec as Record<string, unknown>)[f] !== undefined;
  if (spec.decision !== "ask") {
    const stray = ASK_ONLY_FIELDS.find(present);
    if (stray) fail(label, stray, `only applies when decision is "ask" (this rule says "${spec.decision}")`);
  }
  const bashOnly = BASH_ONLY_FIELDS.find(present);
  const tools = globList(label, "tool", spec.tool ?? (bashOnly ? ["bash"] : undefined), "command");
  if (bashOnly && tools && !tools.test("bash")) fail(label, bashOnly, 'only applies to the "bash" tool; add "bash" to "tool" or remove it');
  const commandLevel = COMMAND_FIELDS.some(present);
  if (spec.redirect && commandLevel) {
    const other = COMMAND_FIELDS.find(present)!;
    fail(label, "redirect", `a rule matches either redirections or commands; move "${other}" to a separate rule`);
  }
  if (spec.dangerous && spec.decision === "ask") {
    if (spec.quorum !== undefined && spec.quorum < 2) fail(label, "quorum", "must be at least 2 for a dangerous rule (four eyes)");
    if (spec.selfApproval === true) fail(label, "selfApproval", "must be false for a dangerous rule (the requester cannot approve)");
  }
  let approval: Approval | null = null;
  if (spec.decision === "ask") {
    const base = approvalFrom(defaults);
    const approvers = spec.approvers ?? defaults.approvers ?? FALLBACK_APPROVERS;
    approval = {
      quorum: spec.quorum ?? (spec.dangerous ? Math.max(2, base.quorum) : base.quorum),
      ...(approvers.minPowerLevel !== undefined ? { minPowerLevel: approvers.minPowerLevel } : {}),
      ...(approvers.users ? { users: approvers.users } : {}),
      selfApproval: spec.selfApproval ?? (spec.dangerous ? false : base.selfApproval),
      strict: spec.strict ?? base.strict,
      expiresInMs: spec.expires ? parseDuration(spec.expires)! : base.expiresInMs,
      risk: spec.risk ?? (spec.dangerous ? "high" : base.risk),
    };
    if (approval.users && approval.users.length < approval.quorum && approval.minPowerLevel === undefined)
      fail(label, "quorum", `needs ${approval.quorum} approvers but "approvers.users" lists only ${approval.users.length}`);
  }
  const command = globList(label, "command", spec.command, "command");
  let heads: string[] | null = null;
  if (spec.argv) heads = [spec.argv[0]!];
  else if (command && command.globs.every((g) => g.heads)) heads = command.globs.flatMap((g) => g.heads!);
  return {
    id: spec.id,
    file,
    order,
    spec,
    decision: spec.decision,
    risk: spec.risk ?? (spec.decision === "ask" ? approval!.risk : null),
    dangerous: spec.dangerous ?? false,
    approval,
    tools,
    rooms: globList(label, "rooms", spec.rooms, "command"),
    requesters: globList(label, "requesters", spec.requesters, "command"),
    projects: globList(label, "projects", spec.projects, "command"),
    command,
    argv: spec.argv ?? null,
    hasArg: globList(label, "hasArg", spec.hasArg, "command"),
    lacksArg: globList(label, "lacksArg", spec.lacksArg, "command"),
    onlyArgs: globList(label, "onlyArgs", spec.onlyArgs, "command"),
    paths: pathList(label, "paths", spec.paths),
    redirect: pathList(label, "redirect", spec.redirect),
    fedBy: globList(label, "fedBy", spec.fedBy, "command"),
    env: globList(label, "env", spec.env, "command"),
    commandLevel,
    heads,
    literalWords: literalWordsOf(spec),
  };
}

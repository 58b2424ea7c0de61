// `pocketcoder policy check|lint`: ask the policy engine about a command without running
// anything. A decision (even for text that does not parse) exits 0; only misuse exits 2.
import { resolve } from "node:path";
import type { CliHandler } from "./main.ts";
import { evaluate, loadPolicy, type Policy, PolicyError } from "../policy/index.ts";

const USAGE = `usage:
  pocketcoder policy check [--policy PATH] [--tool TOOL] [--json] -- COMMAND
  pocketcoder policy lint [--policy PATH]

--policy  a policy file or directory (default: $POCKETCODER_POLICY, else the repository's policies/)
--tool    the tool asking (default: bash); for other tools COMMAND is the path or target
--json    print one JSON object: {"decision","rule","risk","parts","reason"}`;

class UsageError extends Error {}

interface Options {
  policy: string;
  tool: string;
  json: boolean;
  rest: string[];
}

export function defaultPolicyPath(): string {
  return process.env.POCKETCODER_POLICY || resolve(import.meta.dirname, "../../../policies");
}

function parse(args: string[]): Options {
  const opts: Options = { policy: defaultPolicyPath(), tool: "bash", json: false, rest: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined || v === "") throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === "--") {
      opts.rest.push(...args.slice(i + 1));
      break;
    }
    if (a === "--policy") opts.policy = value();
    else if (a.startsWith("--policy=")) opts.policy = a.slice(9);
    else if (a === "--tool") opts.tool = value();
    else if (a.startsWith("--tool=")) opts.tool = a.slice(7);
    else if (a === "--json") opts.json = true;
    else if (a.startsWith("-")) throw new UsageError(`unknown option ${a}`);
    else opts.rest.push(a);
  }
  return opts;
}

function pad(s: string, n: number): string {
  return s.length >= n ? `${s} ` : s.padEnd(n);
}

async function check(opts: Options, policy: Policy): Promise<number> {
  const text = opts.rest.join(" ");
  if (text.trim() === "") throw new UsageError("no command given; put it after --");
  const request = opts.tool === "bash" ? { tool: "bash", command: text } : { tool: opts.tool, command: text, paths: [text] };
  const cwd = process.cwd();
  const d = evaluate({ ...request, cwd, workspace: cwd }, { policy });
  if (opts.json) {
    const parts = d.parts.map((p) => ({ command: p.command, decision: p.decision, rule: p.rule }));
    console.log(JSON.stringify({ decision: d.decision, rule: d.rule, risk: d.risk, parts, reason: d.reason }));
    return 0;
  }
  const label = [d.rule ? `rule ${d.rule}` : "no rule", d.risk ? `risk ${d.risk}` : null].filter(Boolean).join(", ");
  const lines = [`${d.decision.toUpperCase()} (${label})`];
  for (const p of d.parts) lines.push(`  ${pad(p.decision, 6)}${pad(p.rule ?? "-", 32)}${p.command}`);
  lines.push(d.reason);
  console.log(lines.join("\n"));
  return 0;
}

function lint(policy: Policy): number {
  const files = policy.files.length === 1 ? "1 file" : `${policy.files.length} files`;
  console.log(`ok: ${files} (${policy.files.join(", ")}), ${policy.rules.length} rules, hash ${policy.hash}`);
  return 0;
}

export const run: CliHandler = async (args) => {
  const [sub, ...rest] = args;
  try {
    if (sub !== "check" && sub !== "lint") throw new UsageError(sub ? `unknown policy command "${sub}"` : "policy needs a command");
    const opts = parse(rest);
    if (sub === "lint" && opts.rest.length) throw new UsageError("lint takes no command");
    let policy: Policy;
    try {
      policy = await loadPolicy(opts.policy);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      console.error(`pocketcoder policy: invalid policy:\n${err.message}`);
      return sub === "lint" ? 1 : 2;
    }
    return sub === "lint" ? lint(policy) : await check(opts, policy);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`pocketcoder policy: ${err.message}\n\n${USAGE}`);
    return 2;
  }
};

export default run;

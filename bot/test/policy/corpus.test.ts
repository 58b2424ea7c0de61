// The default policy against the corpus: every command gets the decision (and, where pinned,
// the rule) it must get. Table-driven, one test per command.
import { beforeAll, describe, expect, it } from "vitest";
import { resolve } from "node:path";
import { analyse, analyseWithParser } from "../../src/policy/analyse.ts";
import type { Analysis } from "../../src/policy/model.ts";
import { evaluate, loadPolicy, type Policy } from "../../src/policy/index.ts";
import { corpus, WORKSPACE } from "./corpus.ts";

let policy: Policy;
beforeAll(async () => {
  policy = await loadPolicy(resolve(import.meta.dirname, "../../../policies"));
});

describe("the corpus", () => {
  it("has at least 150 commands, 60 of them adversarial", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(150);
    expect(corpus.filter((c) => c.adversarial).length).toBeGreaterThanOrEqual(60);
    expect(new Set(corpus.map((c) => c.command)).size).toBe(corpus.length);
  });
});

describe("default policy", () => {
  it.each(corpus.map((c) => [JSON.stringify(c.command.length > 80 ? `${c.command.slice(0, 77)}…` : c.command), c] as const))("%s", (_name, c) => {
    const d = evaluate({ tool: "bash", command: c.command, cwd: WORKSPACE, workspace: WORKSPACE }, { policy });
    expect({ decision: d.decision, rule: d.rule }).toEqual({ decision: c.expect, rule: c.rule });
    if (c.reasonIncludes) expect(d.reason).toContain(c.reasonIncludes);
    expect(d.policyHash).toBe(policy.hash);
    expect(d.parts.length).toBeGreaterThan(0);
    expect(d.parts.some((p) => p.decision === d.decision && p.rule === d.rule)).toBe(true);
    if (d.decision === "ask") expect(d.approval?.quorum).toBeGreaterThanOrEqual(1);
    else expect(d.approval).toBeUndefined();
  });
});

describe("the plain-text path", () => {
  // Commands of plain words skip tree-sitter; they must come out exactly as the parser reads them.
  const shape = (a: Analysis) => JSON.stringify({ units: a.units.map((u) => ({ ...u, sources: u.kind === "command" ? u.sources.length : 0 })), floors: a.floors });
  const extra = ["env A=1 ls", "ls 1 2", "a+=b ls", "X=1 Y=2", "cd ~", "kill %1", "echo a=b", "1a=b ls", "ls -- -x", "git log -n 5 --format=%H", "export A=1", "time ls"];
  const commands = [...corpus.map((c) => c.command), ...extra];

  it("agrees with the parser on every command", () => {
    let plain = 0;
    for (const command of commands) {
      const fast = analyse(command, { cwd: WORKSPACE });
      const parsed = analyseWithParser(command, { cwd: WORKSPACE });
      expect(shape(fast), command).toBe(shape(parsed));
      if (/^[A-Za-z0-9_\-./=:,@%+~ ]+$/.test(command)) plain++;
    }
    expect(plain).toBeGreaterThan(60);
  });
});

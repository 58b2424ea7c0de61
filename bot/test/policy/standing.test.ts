// Standing ("always allow") rules: what standingRuleFor proposes or refuses, and how evaluate
// applies an active rule — only to one plain command, never over a deny or a dangerous ask.
import { resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { evaluate, loadPolicy, type Policy, type PolicyRequest, type StandingRule, standingRuleFor, StandingRule as StandingRuleSchema } from "../../src/policy/index.ts";

const WS = "/workspace/project";
const NOW = 1_700_000_000_000;
const ROOM = "!dev:example.org";

let policy: Policy;
beforeAll(async () => {
  policy = await loadPolicy(resolve(import.meta.dirname, "../../../policies"));
});

function request(command: string, extra: Partial<PolicyRequest> = {}): PolicyRequest {
  return { tool: "bash", command, cwd: WS, workspace: WS, room: ROOM, project: "api", ...extra };
}

function propose(command: string, options: { prefixLength?: number; ttlMs?: number | null } = {}) {
  const req = request(command);
  return standingRuleFor(req, evaluate(req, { policy }), { policy, now: NOW, id: "r1", ...options });
}

function rule(argvPrefix: string[], extra: Partial<StandingRule> = {}): StandingRule {
  return { id: "r1", tool: "bash", argvPrefix, room: ROOM, project: null, expiresAt: NOW + 60_000, ...extra };
}

function withStanding(command: string, standing: StandingRule[], extra: Partial<PolicyRequest> = {}) {
  return evaluate(request(command, extra), { policy, standing, now: NOW });
}

describe("standingRuleFor", () => {
  it("proposes the whole command, scoped to the room and project, for 24 hours", () => {
    expect(propose("npm test")).toEqual({
      ok: true,
      rule: { id: "r1", tool: "bash", argvPrefix: ["npm", "test"], room: ROOM, project: "api", expiresAt: NOW + 24 * 3_600_000 },
    });
  });

  it("covers fewer words when asked, and the rule it gives is valid against the schema", () => {
    const p = propose('git commit -m "fix typo"', { prefixLength: 2, ttlMs: null });
    expect(p).toMatchObject({ ok: true, rule: { argvPrefix: ["git", "commit"], expiresAt: null } });
    if (p.ok) expect(StandingRuleSchema.parse(p.rule)).toEqual(p.rule);
  });

  it("takes the words after quote removal", () => {
    expect(propose("'npm' \"test\"")).toMatchObject({ ok: true, rule: { argvPrefix: ["npm", "test"] } });
  });

  it.each([
    ["cat .env", /a denied command cannot be allowed always/],
    ["ls -la", /already allowed without asking/],
    ["git push --force", /dangerous class \(rule "force-push"\)/],
    ["npm publish", /dangerous class \(rule "package-publish"\)/],
    ["rm -rf /tmp/build", /dangerous class/],
    ["npm test && npm run lint", /not one plain command: it is more than one simple command/],
    ["npm test | tee log", /more than one simple command/],
    ["npm test > log.txt", /more than one simple command/],
    ["CI=1 npm test", /it sets the environment variable CI/],
    ["npm test $(echo x)", /output of/],
    ["npm test $ARGS", /only known when it runs/],
    ["bash -c 'npm test'", /runs code given inline/],
    ["npm test &", /background/],
    ["rm notes.txt", /could also match the dangerous rule "rm-recursive-/],
    ["git push origin main", /could also match the dangerous rule "force-push"/],
    ["make build # then deploy", /operators, redirections or comments/],
  ])("refuses %s", (command, reason) => {
    const p = propose(command);
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.reason).toMatch(reason);
  });

  it("refuses other tools, changed policies and prefixes that do not fit", async () => {
    const edit: PolicyRequest = { tool: "edit", paths: [`${WS}/a.ts`], cwd: WS, workspace: WS };
    expect(standingRuleFor(edit, evaluate(edit, { policy }), { policy })).toEqual({ ok: false, reason: "No standing rule: standing rules cover bash commands only." });
    const req = request("npm test");
    const stale = { ...evaluate(req, { policy }), policyHash: "0".repeat(64) };
    expect(standingRuleFor(req, stale, { policy }).ok).toBe(false);
    expect(propose("npm test", { prefixLength: 3 })).toMatchObject({ ok: false, reason: expect.stringMatching(/prefix must be 1 to 2 words/) });
    expect(propose("npm test", { prefixLength: 0 }).ok).toBe(false);
    expect(propose("ls *.ts -la | wc", { prefixLength: 1 }).ok).toBe(false);
  });
});

describe("evaluate with standing rules", () => {
  it("turns an ordinary ask into an allow for a command with the prefix", () => {
    expect(withStanding("npm test", []).decision).toBe("ask");
    const d = withStanding("npm test -- --watch", [rule(["npm", "test"])]);
    expect(d.decision).toBe("allow");
    expect(d.rule).toBe("standing:r1");
    expect(d.parts).toEqual([{ command: "npm test -- --watch", decision: "allow", rule: "standing:r1" }]);
    expect(d.reason).toContain("always allow `npm test`");
  });

  it("matches word by word, after quote removal", () => {
    expect(withStanding("npm testx", [rule(["npm", "test"])]).decision).toBe("ask");
    expect(withStanding("npm 'test'", [rule(["npm", "test"])]).decision).toBe("allow");
    expect(withStanding("npm", [rule(["npm", "test"])]).decision).toBe("ask");
  });

  it("respects expiry, room, project and tool", () => {
    expect(withStanding("npm test", [rule(["npm", "test"], { expiresAt: NOW })]).decision).toBe("ask");
    expect(withStanding("npm test", [rule(["npm", "test"], { expiresAt: null })]).decision).toBe("allow");
    expect(withStanding("npm test", [rule(["npm", "test"], { room: "!other:example.org" })]).decision).toBe("ask");
    expect(withStanding("npm test", [rule(["npm", "test"], { room: null })]).decision).toBe("allow");
    expect(withStanding("npm test", [rule(["npm", "test"], { project: "web" })]).decision).toBe("ask");
    expect(withStanding("npm test", [rule(["npm", "test"], { project: "api" })]).decision).toBe("allow");
    expect(withStanding("npm test", [rule(["npm", "test"], { tool: "edit" })]).decision).toBe("ask");
  });

  it.each([
    ["npm test && rm -rf /", "deny"],
    ["npm test; make", "ask"],
    ["npm test > out.txt", "ask"],
    ["npm test | sh", "ask"],
    ["CI=1 npm test", "ask"],
    ["npm test $(id)", "ask"],
    ["npm test &", "ask"],
    ["npm test\nmake", "ask"],
  ])("does not stretch over %s", (command, decision) => {
    expect(withStanding(command, [rule(["npm", "test"])]).decision).toBe(decision);
  });

  it("never overrides a deny or a dangerous ask", () => {
    expect(withStanding("cat .env", [rule(["cat"])]).decision).toBe("deny");
    const push = withStanding("git push --force", [rule(["git", "push"])]);
    expect([push.decision, push.rule]).toEqual(["ask", "force-push"]);
    expect(withStanding("rm -rf /tmp/x", [rule(["rm"])]).rule).toBe("rm-recursive-outside-workspace");
    expect(withStanding("bash -c 'make'", [rule(["bash"])]).rule).toBe("builtin:interpreter");
  });
});

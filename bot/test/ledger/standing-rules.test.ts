import { describe, expect, it } from "vitest";
import { StandingRule } from "../../src/policy/standing-match.ts";
import { newRequest, openTestLedger, room, t0 } from "./fixtures.ts";

describe("standing rules", () => {
  it("creates a scoped rule from a decision, audited, in the policy module's shape", () => {
    const t = openTestLedger();
    const source = t.ledger.createRequest(newRequest({ input: "git status" }));
    const rule = t.ledger.createStandingRule({ tool: "bash", argvPrefix: ["git", "status"], room, project: "app", createdBy: "@bob:example.org", sourceRequest: source.id, expiresAt: t0 + 86_400_000 });
    expect(rule).toEqual({
      id: rule.id,
      tool: "bash",
      argvPrefix: ["git", "status"],
      room,
      project: "app",
      expiresAt: t0 + 86_400_000,
      createdBy: "@bob:example.org",
      sourceRequest: source.id,
      createdAt: t0,
      revokedAt: null,
      revokedBy: null,
    });
    const entry = t.ledger.tail(1)[0]!;
    expect(entry.event).toBe("rule.create");
    expect(JSON.parse(entry.body)).toMatchObject({ ruleId: rule.id, argvPrefix: ["git", "status"], sourceRequest: source.id });
  });

  it("lists rules in force at a time, in a room and project", () => {
    const t = openTestLedger();
    const make = (over: { room?: string | null; project?: string | null; expiresAt?: number | null }) =>
      t.ledger.createStandingRule({ tool: "bash", argvPrefix: ["ls"], room: null, project: null, createdBy: "@bob:example.org", expiresAt: null, ...over }).id;
    const anywhere = make({});
    const here = make({ room });
    const elsewhere = make({ room: "!other:example.org" });
    const otherProject = make({ project: "web" });
    const expiring = make({ expiresAt: t0 + 100 });
    const revoked = make({});
    t.clock.now = t0 + 50;
    expect(t.ledger.revokeStandingRule(revoked, "@admin:example.org")).toBe(true);
    expect(t.ledger.revokeStandingRule(revoked, "@admin:example.org")).toBe(false);
    expect(t.ledger.revokeStandingRule("missing", "@admin:example.org")).toBe(false);

    const ids = (q: Parameters<typeof t.ledger.listStandingRules>[0]) => t.ledger.listStandingRules(q).map((r) => r.id);
    expect(ids({})).toEqual([anywhere, here, elsewhere, otherProject, expiring, revoked]);
    expect(ids({ at: t0 + 10, room, project: "app" })).toEqual([anywhere, here, expiring, revoked]);
    expect(ids({ at: t0 + 60, room, project: "app" })).toEqual([anywhere, here, expiring]);
    expect(ids({ at: t0 + 100, room, project: "app" })).toEqual([anywhere, here]);
    expect(ids({ at: t0 + 100, project: "web" })).toEqual([anywhere, here, elsewhere, otherProject]);
    expect(t.ledger.getStandingRule(revoked)).toMatchObject({ revokedAt: t0 + 50, revokedBy: "@admin:example.org" });
    expect(t.ledger.tail(1)[0]!.event).toBe("rule.revoke");
  });

  it("validates the rule and names the field", () => {
    const { ledger } = openTestLedger();
    const base = { tool: "bash", room: null, project: null, createdBy: "@bob:example.org", expiresAt: null };
    expect(() => ledger.createStandingRule({ ...base, argvPrefix: [] })).toThrow("createStandingRule: argvPrefix: needs at least the command name");
    expect(() => ledger.createStandingRule({ ...base, argvPrefix: ["ls"], createdBy: "" })).toThrow("createStandingRule: createdBy: must not be empty");
  });
});

describe("the contract with the policy module", () => {
  it("stores a proposal from standingRuleFor as is, and lists records the policy's StandingRule schema accepts", () => {
    const { ledger } = openTestLedger();
    const proposal = { id: "rule-from-policy", tool: "bash", argvPrefix: ["npm", "test"], room, project: "app", expiresAt: t0 + 1000 };
    const stored = ledger.createStandingRule({ ...proposal, createdBy: "@bob:example.org" });
    expect(stored.id).toBe("rule-from-policy");
    for (const record of ledger.listStandingRules({ at: t0, room, project: "app" })) {
      expect(StandingRule.parse(record)).toEqual(proposal);
    }
    expect(() => ledger.createStandingRule({ ...proposal, id: "other", argvPrefix: ["npm", ""], createdBy: "@bob:example.org" })).toThrow("createStandingRule: argvPrefix.1: must not be empty");
  });
});

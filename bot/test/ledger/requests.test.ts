import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { LedgerInputError, contentHashOf } from "../../src/ledger/ledger.ts";
import { codeAlphabet } from "../../src/ledger/short-code.ts";
import { newRequest, newVote, openTestLedger, room, t0 } from "./fixtures.ts";

describe("creating requests", () => {
  it("stores the request pending, with a short code and the content hash, and audits the whole request", () => {
    const { ledger } = openTestLedger();
    const req = ledger.createRequest(newRequest({ input: "rm -rf build", requesterDevice: "ALICEPC" }));
    expect(req.state).toBe("pending");
    expect(req.code).toMatch(new RegExp(`^[${codeAlphabet}]{6}$`));
    expect(req.createdAt).toBe(t0);
    expect(ledger.getRequest(req.id)).toEqual(req);
    const entry = ledger.tail(1)[0]!;
    expect(entry.event).toBe("request.create");
    expect(entry.actor).toBe("@alice:example.org");
    const body = JSON.parse(entry.body) as Record<string, unknown>;
    expect(body).toMatchObject({ requestId: req.id, input: "rm -rf build", contentHash: req.contentHash, code: req.code, requesterDevice: "ALICEPC", expiresAt: req.expiresAt });
  });

  it("hashes the canonical encoding of tool, input, cwd, room, project and session", () => {
    const req = newRequest({ input: "ls -la" });
    const canonical = `{"cwd":"/workspace/app","input":"ls -la","inputKind":"command","project":"app","room":"${room}","sessionId":"ses_1","tool":"bash"}`;
    const expected = createHash("sha256").update(canonical).digest("hex");
    expect(contentHashOf({ tool: "bash", inputKind: "command", input: "ls -la", cwd: "/workspace/app", room, project: "app", sessionId: "ses_1" })).toBe(expected);
    const { ledger } = openTestLedger();
    expect(ledger.createRequest(req).contentHash).toBe(expected);
  });

  it("gives different content a different hash (a changed cwd voids approval of the old one)", () => {
    const base = { tool: "bash", inputKind: "command", input: "make", cwd: "/workspace/a", room, project: "app", sessionId: "s" };
    expect(contentHashOf(base)).not.toBe(contentHashOf({ ...base, cwd: "/workspace/b" }));
    expect(contentHashOf(base)).not.toBe(contentHashOf({ ...base, input: "make " }));
  });

  it("freezes only the approval fields it knows, so the policy's Approval object can be passed as is", () => {
    const { ledger } = openTestLedger();
    const policyApproval = { quorum: 2, minPowerLevel: 50, users: ["@ops:example.org"], selfApproval: false, strict: true, expiresInMs: 900_000, risk: "high" };
    const req = ledger.createRequest(newRequest({ approval: policyApproval }));
    expect(ledger.getRequest(req.id)!.approval).toEqual({ quorum: 2, minPowerLevel: 50, users: ["@ops:example.org"], selfApproval: false, strict: true });
  });

  it("refuses a second request for the same OpenCode permission", () => {
    const { ledger } = openTestLedger();
    const first = ledger.createRequest(newRequest({ permissionId: "per_same" }));
    expect(() => ledger.createRequest(newRequest({ permissionId: "per_same" }))).toThrow(`already has request ${first.id}`);
    expect(ledger.byPermission("ses_1", "per_same")?.id).toBe(first.id);
  });

  it.each([
    [{ cwd: "" }, "createRequest: cwd: must not be empty"],
    [{ approval: { quorum: 0, selfApproval: false, strict: false } }, "createRequest: approval.quorum:"],
    [{ inputKind: "shell" }, "createRequest: inputKind:"],
    [{ expiresAt: t0 }, `createRequest: expiresAt: ${t0} is not after now`],
    [{ input: "echo \ud800" }, "createRequest: input: must be well-formed Unicode"],
  ])("rejects invalid input %j naming the field", (override, message) => {
    const { ledger } = openTestLedger();
    const attempt = () => ledger.createRequest(newRequest(override as never));
    expect(attempt).toThrow(LedgerInputError);
    expect(attempt).toThrow(message);
    expect(ledger.head().seq).toBe(0);
  });
});

describe("finding requests", () => {
  it("finds by code, case-insensitively, preferring the pending request", () => {
    const { ledger } = openTestLedger();
    const req = ledger.createRequest(newRequest());
    expect(ledger.byCode(` ${req.code.toLowerCase()} `)?.id).toBe(req.id);
    expect(ledger.byCode("ZZZZZZ")).toBeNull();
    ledger.transition(req.id, "pending", "denied", "@bob:example.org");
    expect(ledger.byCode(req.code)?.state).toBe("denied");
  });

  it("sets the prompt event once and finds the request by it", () => {
    const { ledger } = openTestLedger();
    const req = ledger.createRequest(newRequest());
    expect(ledger.setPromptEvent(req.id, "$prompt", "bot")).toBe(true);
    expect(ledger.setPromptEvent(req.id, "$prompt", "bot")).toBe(true);
    expect(ledger.setPromptEvent(req.id, "$other", "bot")).toBe(false);
    expect(ledger.setPromptEvent("no-such-id", "$x", "bot")).toBe(false);
    expect(ledger.byPromptEvent("$prompt")?.id).toBe(req.id);
    expect(ledger.byPromptEvent("$other")).toBeNull();
    expect(ledger.history(req.id).map((e) => e.event)).toEqual(["request.create", "request.prompt"]);
  });

  it("lists pending requests and requests by state, oldest first", () => {
    const t = openTestLedger();
    const a = t.ledger.createRequest(newRequest());
    t.clock.now += 1;
    const b = t.ledger.createRequest(newRequest());
    t.clock.now += 1;
    const c = t.ledger.createRequest(newRequest());
    t.ledger.transition(b.id, "pending", "cancelled", "@alice:example.org");
    expect(t.ledger.listPending().map((r) => r.id)).toEqual([a.id, c.id]);
    expect(t.ledger.listByState("cancelled").map((r) => r.id)).toEqual([b.id]);
  });
});

describe("transitions (compare-and-swap)", () => {
  it("moves the state once and audits the actor and detail; the loser of a race gets false", () => {
    const t = openTestLedger();
    const req = t.ledger.createRequest(newRequest());
    t.clock.now += 5;
    expect(t.ledger.transition(req.id, "pending", "approved", "@bob:example.org", { approvers: ["@bob:example.org"] })).toBe(true);
    expect(t.ledger.transition(req.id, "pending", "denied", "@carol:example.org")).toBe(false);
    const after = t.ledger.getRequest(req.id)!;
    expect(after.state).toBe("approved");
    expect(after.stateChangedAt).toBe(t0 + 5);
    const events = t.ledger.history(req.id);
    expect(events.map((e) => e.event)).toEqual(["request.create", "request.update"]);
    expect(events[1]!.actor).toBe("@bob:example.org");
    expect(JSON.parse(events[1]!.body)).toEqual({ requestId: req.id, from: "pending", to: "approved", detail: { approvers: ["@bob:example.org"] } });
  });

  it("cancels an approved request, and nothing leaves a final state", () => {
    const { ledger } = openTestLedger();
    const req = ledger.createRequest(newRequest());
    ledger.transition(req.id, "pending", "approved", "bot");
    expect(ledger.transition(req.id, "approved", "cancelled", "@admin:example.org", { reason: "kill switch" })).toBe(true);
    expect(ledger.transition(req.id, "approved", "cancelled", "@admin:example.org")).toBe(false);
    expect(ledger.getRequest(req.id)!.state).toBe("cancelled");
  });

  it("refuses to approve once the request has expired on the bot's clock", () => {
    const t = openTestLedger();
    const req = t.ledger.createRequest(newRequest());
    t.clock.now = req.expiresAt;
    expect(t.ledger.transition(req.id, "pending", "approved", "bot")).toBe(false);
    expect(t.ledger.getRequest(req.id)!.state).toBe("pending");
    expect(t.ledger.transition(req.id, "pending", "denied", "bot")).toBe(true);
  });

  it("keeps execution edges for the execution calls", () => {
    const { ledger } = openTestLedger();
    const req = ledger.createRequest(newRequest());
    expect(() => ledger.transition(req.id, "approved", "dispatching", "bot")).toThrow(/not a decision/);
    expect(() => ledger.transition(req.id, "running", "succeeded", "bot")).toThrow(/not a decision/);
  });

  it("returns false for an unknown request", () => {
    const { ledger } = openTestLedger();
    expect(ledger.transition("missing", "pending", "denied", "bot")).toBe(false);
    expect(ledger.head().seq).toBe(0);
  });
});

describe("expiry", () => {
  it("expires pending requests whose time is up, audited, and leaves the rest", () => {
    const t = openTestLedger();
    const soon = t.ledger.createRequest(newRequest({ expiresAt: t0 + 1000 }));
    const later = t.ledger.createRequest(newRequest({ expiresAt: t0 + 5000 }));
    const decided = t.ledger.createRequest(newRequest({ expiresAt: t0 + 1000 }));
    t.ledger.transition(decided.id, "pending", "denied", "@bob:example.org");
    t.clock.now = t0 + 999;
    expect(t.ledger.expireDue()).toEqual([]);
    t.clock.now = t0 + 1000;
    const expired = t.ledger.expireDue();
    expect(expired.map((r) => [r.id, r.state])).toEqual([[soon.id, "expired"]]);
    expect(t.ledger.getRequest(later.id)!.state).toBe("pending");
    expect(t.ledger.getRequest(decided.id)!.state).toBe("denied");
    const entry = t.ledger.tail(1)[0]!;
    expect(entry.actor).toBe("system:expiry");
    expect(JSON.parse(entry.body)).toMatchObject({ requestId: soon.id, from: "pending", to: "expired" });
    expect(t.ledger.expireDue()).toEqual([]);
  });

  it("keeps codes unique among pending requests only", () => {
    const t = openTestLedger();
    const old = t.ledger.createRequest(newRequest({ expiresAt: t0 + 10 }));
    // A second pending request with the same code, inserted directly to probe the schema itself.
    const clone = t.ledger.db.prepare(
      `INSERT INTO requests SELECT ?, code, content_hash, tool, input_kind, input, cwd, room, project, session_id, ?,
         call_id, requester, requester_device, rule, risk, policy_hash, approval, NULL, created_at, ?
       FROM requests WHERE id = ?`,
    );
    expect(() => clone.run("clone-1", "per_clone_1", t0 + 100, old.id)).toThrow(/UNIQUE constraint failed: requests.code/);
    t.clock.now = t0 + 10;
    t.ledger.expireDue();
    clone.run("clone-2", "per_clone_2", t0 + 100, old.id);
    expect(t.ledger.byCode(old.code)?.id).toBe("clone-2");
  });

  it("does not count a vote that arrives after expiry, even before the sweep", () => {
    const t = openTestLedger();
    const req = t.ledger.createRequest(newRequest());
    t.clock.now = req.expiresAt + 1;
    expect(t.ledger.recordVote(newVote(req.id))).toEqual({ counted: false, reason: "expired", state: "pending" });
  });
});

describe("history", () => {
  it("holds every entry about one request, in order, and nothing about others", () => {
    const { ledger } = openTestLedger();
    const before = ledger.createRequest(newRequest());
    const req = ledger.createRequest(newRequest());
    ledger.recordVote(newVote(before.id));
    ledger.recordVote(newVote(req.id));
    ledger.append("bot.tick", "bot", { requestIdLike: req.id });
    ledger.transition(req.id, "pending", "approved", "bot");
    ledger.transition(before.id, "pending", "approved", "bot");
    expect(ledger.history(req.id).map((e) => e.event)).toEqual(["request.create", "request.review", "request.update"]);
    expect(ledger.history(before.id).map((e) => e.event)).toEqual(["request.create", "request.review", "request.update"]);
    expect(ledger.history("no-such-request")).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import { newRequest, newVote, openTestLedger, t0 } from "./fixtures.ts";

describe("recording votes", () => {
  it("counts a vote on a pending request, stores every field and audits it", () => {
    const t = openTestLedger();
    const req = t.ledger.createRequest(newRequest());
    t.clock.now += 7;
    const outcome = t.ledger.recordVote(newVote(req.id, { eventId: "$v", via: "command", encrypted: true, verifiedDevice: true, decision: "deny", reason: "not now", originTs: 123 }));
    expect(outcome.counted).toBe(true);
    const expected = {
      eventId: "$v",
      requestId: req.id,
      contentHash: req.contentHash,
      voter: "@bob:example.org",
      device: "BOBPHONE",
      via: "command",
      encrypted: true,
      verifiedDevice: true,
      decision: "deny",
      reason: "not now",
      originTs: 123,
      receivedAt: t0 + 7,
      withdrawn: null,
    };
    expect(outcome).toEqual({ counted: true, vote: expected });
    expect(t.ledger.getVote("$v")).toEqual(expected);
    const entry = t.ledger.tail(1)[0]!;
    expect(entry.event).toBe("request.review");
    expect(entry.actor).toBe("@bob:example.org");
    expect(JSON.parse(entry.body)).toMatchObject({ eventId: "$v", requestId: req.id, contentHash: req.contentHash, decision: "deny", receivedAt: t0 + 7, originTs: 123 });
  });

  it("ignores a replayed event without auditing it again", () => {
    const { ledger } = openTestLedger();
    const req = ledger.createRequest(newRequest());
    ledger.recordVote(newVote(req.id, { eventId: "$same" }));
    const head = ledger.head();
    expect(ledger.recordVote(newVote(req.id, { eventId: "$same", voter: "@carol:example.org" }))).toEqual({ counted: false, reason: "duplicate_event", state: null });
    expect(ledger.head()).toEqual(head);
    expect(ledger.listVotes(req.id)).toHaveLength(1);
  });

  it("counts one vote per voter however many devices or reactions they use", () => {
    const { ledger } = openTestLedger();
    const req = ledger.createRequest(newRequest());
    ledger.recordVote(newVote(req.id, { device: "PHONE" }));
    const second = ledger.recordVote(newVote(req.id, { device: "LAPTOP", decision: "deny" }));
    expect(second).toEqual({ counted: false, reason: "already_voted", state: "pending" });
    expect(ledger.tally(req.id).map((v) => v.device)).toEqual(["PHONE"]);
    const entry = ledger.tail(1)[0]!;
    expect(entry.event).toBe("request.review.ignored");
    expect(JSON.parse(entry.body)).toMatchObject({ why: "already_voted", device: "LAPTOP" });
  });

  it("records late votes without effect", () => {
    const { ledger } = openTestLedger();
    const req = ledger.createRequest(newRequest());
    ledger.transition(req.id, "pending", "denied", "@carol:example.org");
    expect(ledger.recordVote(newVote(req.id))).toEqual({ counted: false, reason: "not_pending", state: "denied" });
    expect(ledger.tally(req.id)).toEqual([]);
    expect(ledger.tail(1)[0]!.event).toBe("request.review.ignored");
  });

  it("refuses votes from another room and on unknown requests", () => {
    const { ledger } = openTestLedger();
    const req = ledger.createRequest(newRequest());
    expect(ledger.recordVote(newVote(req.id, { room: "!elsewhere:example.org" }))).toEqual({ counted: false, reason: "wrong_room", state: "pending" });
    const head = ledger.head();
    expect(ledger.recordVote(newVote("no-such-request"))).toEqual({ counted: false, reason: "unknown_request", state: null });
    expect(ledger.head()).toEqual(head);
    expect(ledger.tally(req.id)).toEqual([]);
  });

  it("validates the vote and names the field", () => {
    const { ledger } = openTestLedger();
    const req = ledger.createRequest(newRequest());
    expect(() => ledger.recordVote({ ...newVote(req.id), decision: "maybe" as never })).toThrow(/^recordVote: decision:/);
    expect(() => ledger.recordVote({ ...newVote(req.id), originTs: -1 })).toThrow(/^recordVote: originTs:/);
    expect(() => ledger.recordVote({ ...newVote(req.id), reason: "x".repeat(4097) })).toThrow(/^recordVote: reason:/);
  });
});

describe("withdrawing votes", () => {
  it("withdraws a redacted vote while pending, keeps the vote as cast, and lets the voter vote again", () => {
    const t = openTestLedger();
    const req = t.ledger.createRequest(newRequest());
    t.ledger.recordVote(newVote(req.id, { eventId: "$react" }));
    t.clock.now += 3;
    const out = t.ledger.withdrawVote("$react", "@bob:example.org", "$redaction");
    expect(out).toMatchObject({ withdrawn: true, vote: { eventId: "$react", withdrawn: { at: t0 + 3, by: "@bob:example.org", redactionEventId: "$redaction" } } });
    expect(t.ledger.tally(req.id)).toEqual([]);
    expect(t.ledger.listVotes(req.id).map((v) => [v.eventId, v.withdrawn !== null])).toEqual([["$react", true]]);
    const entry = t.ledger.tail(1)[0]!;
    expect(entry.event).toBe("request.review.withdraw");
    expect(JSON.parse(entry.body)).toEqual({ eventId: "$react", redactionEventId: "$redaction", requestId: req.id, voter: "@bob:example.org" });
    expect(t.ledger.recordVote(newVote(req.id, { eventId: "$again", decision: "deny" })).counted).toBe(true);
    expect(t.ledger.tally(req.id).map((v) => v.eventId)).toEqual(["$again"]);
  });

  it("leaves a vote standing when someone other than its voter redacts it", () => {
    const t = openTestLedger();
    const req = t.ledger.createRequest(newRequest());
    t.ledger.recordVote(newVote(req.id, { eventId: "$react" }));
    const head = t.ledger.head();
    expect(t.ledger.withdrawVote("$react", "@moderator:example.org", "$redaction")).toEqual({ withdrawn: false, reason: "not_voter", state: "pending" });
    expect(t.ledger.tally(req.id).map((v) => v.eventId)).toEqual(["$react"]);
    expect(t.ledger.head()).toEqual(head);
  });

  it("refuses to withdraw twice, unknown votes, and votes on decided requests", () => {
    const { ledger } = openTestLedger();
    const req = ledger.createRequest(newRequest());
    ledger.recordVote(newVote(req.id, { eventId: "$a" }));
    ledger.recordVote(newVote(req.id, { eventId: "$b", voter: "@carol:example.org" }));
    ledger.withdrawVote("$a", "@bob:example.org");
    expect(ledger.withdrawVote("$a", "@bob:example.org")).toEqual({ withdrawn: false, reason: "already_withdrawn", state: "pending" });
    expect(ledger.withdrawVote("$nope", "@bob:example.org")).toEqual({ withdrawn: false, reason: "unknown_vote", state: null });
    ledger.transition(req.id, "pending", "approved", "bot");
    expect(ledger.withdrawVote("$b", "@carol:example.org")).toEqual({ withdrawn: false, reason: "not_pending", state: "approved" });
    expect(ledger.tally(req.id).map((v) => v.eventId)).toEqual(["$b"]);
  });
});

describe("tally", () => {
  it("returns the standing votes in arrival order, in the shape the approval tally reads", () => {
    const { ledger } = openTestLedger();
    const req = ledger.createRequest(newRequest({ approval: { quorum: 2, selfApproval: false, strict: true } }));
    ledger.recordVote(newVote(req.id, { eventId: "$1", voter: "@carol:example.org", decision: "always" }));
    ledger.recordVote(newVote(req.id, { eventId: "$2", voter: "@bob:example.org", via: "command", verifiedDevice: true }));
    ledger.recordVote(newVote(req.id, { eventId: "$3", voter: "@dave:example.org", decision: "deny" }));
    ledger.withdrawVote("$3", "@dave:example.org");
    expect(ledger.tally(req.id).map(({ eventId, voter, decision, via, verifiedDevice }) => ({ eventId, voter, decision, via, verifiedDevice }))).toEqual([
      { eventId: "$1", voter: "@carol:example.org", decision: "always", via: "reaction", verifiedDevice: false },
      { eventId: "$2", voter: "@bob:example.org", decision: "approve", via: "command", verifiedDevice: true },
    ]);
    expect(ledger.getRequest(req.id)!.approval).toEqual({ quorum: 2, selfApproval: false, strict: true });
  });

  it("lets a vote, its tally and the decision commit as one transaction", () => {
    const { ledger } = openTestLedger();
    const req = ledger.createRequest(newRequest());
    const head = ledger.head();
    expect(() =>
      ledger.atomically(() => {
        ledger.recordVote(newVote(req.id));
        if (ledger.tally(req.id).length >= req.approval.quorum) ledger.transition(req.id, "pending", "approved", "bot");
        throw new Error("crash before commit");
      }),
    ).toThrow("crash before commit");
    expect(ledger.head()).toEqual(head);
    expect(ledger.listVotes(req.id)).toEqual([]);
    expect(ledger.getRequest(req.id)!.state).toBe("pending");
  });
});

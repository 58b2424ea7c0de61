import { describe, expect, it } from "vitest";
import { approvedRequest, newRequest, okResult, openTestLedger, t0 } from "./fixtures.ts";

describe("claiming an execution", () => {
  it("moves approved → dispatching and inserts the execution row together, once", () => {
    const t = openTestLedger();
    const id = approvedRequest(t.ledger);
    t.clock.now += 10;
    const claim = t.ledger.claimExecution(id, "bot");
    expect(claim.ok).toBe(true);
    expect(claim.ok && claim.request.state).toBe("dispatching");
    expect(t.ledger.getExecution(id)).toMatchObject({ requestId: id, claimedBy: "bot", claimedAt: t0 + 10, startedAt: null, endedAt: null });
    expect(t.ledger.claimExecution(id, "bot")).toEqual({ ok: false, reason: "already_claimed", state: "dispatching" });
    const entry = t.ledger.tail(1)[0]!;
    expect(entry.event).toBe("exec.claim");
    expect(JSON.parse(entry.body)).toMatchObject({ requestId: id, from: "approved", to: "dispatching" });
  });

  it("refuses requests that are not approved, unknown or past their expiry", () => {
    const t = openTestLedger();
    const pending = t.ledger.createRequest(newRequest());
    expect(t.ledger.claimExecution(pending.id, "bot")).toEqual({ ok: false, reason: "not_approved", state: "pending" });
    expect(t.ledger.claimExecution("missing", "bot")).toEqual({ ok: false, reason: "unknown_request", state: null });
    const stale = approvedRequest(t.ledger, { expiresAt: t0 + 100 });
    t.clock.now = t0 + 100;
    expect(t.ledger.claimExecution(stale, "bot")).toEqual({ ok: false, reason: "expired", state: "approved" });
    expect(t.ledger.getExecution(stale)).toBeNull();
    expect(t.ledger.getRequest(stale)!.state).toBe("approved");
  });

  it("never claims a cancelled request", () => {
    const { ledger } = openTestLedger();
    const id = approvedRequest(ledger);
    ledger.transition(id, "approved", "cancelled", "@admin:example.org", { reason: "veto" });
    expect(ledger.claimExecution(id, "bot")).toEqual({ ok: false, reason: "not_approved", state: "cancelled" });
  });
});

describe("running and results", () => {
  it("records start and result with exit code and output digest", () => {
    const t = openTestLedger();
    const id = approvedRequest(t.ledger);
    t.ledger.claimExecution(id, "bot");
    t.clock.now += 1;
    expect(t.ledger.markRunning(id, "bot")).toBe(true);
    expect(t.ledger.markRunning(id, "bot")).toBe(false);
    t.clock.now += 12;
    expect(t.ledger.recordResult(id, "runner", okResult)).toBe("succeeded");
    expect(t.ledger.recordResult(id, "runner", okResult)).toBeNull();
    expect(t.ledger.getExecution(id)).toEqual({ requestId: id, claimedBy: "bot", claimedAt: t0, startedAt: t0 + 1, endedAt: t0 + 13, ...okResult });
    const [start, result] = t.ledger.history(id).slice(-2);
    expect(start!.event).toBe("exec.start");
    expect(result!.event).toBe("exec.result");
    expect(JSON.parse(result!.body)).toEqual({ ...okResult, endedAt: t0 + 13, from: "running", requestId: id, to: "succeeded" });
  });

  it.each([
    [{ exitCode: 2 }, "failed"],
    [{ exitCode: null }, "failed"],
    [{ exitCode: 130, timedOut: true }, "timed_out"],
  ])("a result of %j is %s", (override, state) => {
    const { ledger } = openTestLedger();
    const id = approvedRequest(ledger);
    ledger.claimExecution(id, "bot");
    ledger.markRunning(id, "bot");
    expect(ledger.recordResult(id, "runner", { ...okResult, ...override })).toBe(state);
    expect(ledger.getRequest(id)!.state).toBe(state);
  });

  it("accepts a result straight from dispatching (the runner refused or finished before it was marked running)", () => {
    const { ledger } = openTestLedger();
    const id = approvedRequest(ledger);
    ledger.claimExecution(id, "bot");
    expect(ledger.recordResult(id, "runner", { ...okResult, exitCode: 126 })).toBe("failed");
    expect(ledger.getExecution(id)!.startedAt).toBeNull();
  });

  it("validates results and names the field", () => {
    const { ledger } = openTestLedger();
    const id = approvedRequest(ledger);
    ledger.claimExecution(id, "bot");
    expect(() => ledger.recordResult(id, "runner", { ...okResult, outputSha256: "xyz" })).toThrow(/^recordResult: outputSha256: must be 64 lower-case hex digits/);
    expect(ledger.getRequest(id)!.state).toBe("dispatching");
  });
});

describe("crash recovery", () => {
  it("turns dispatching and running requests without a result into unknown, audited, and never re-runs them", () => {
    const t = openTestLedger();
    const dispatching = approvedRequest(t.ledger);
    const running = approvedRequest(t.ledger);
    const finished = approvedRequest(t.ledger);
    const waiting = approvedRequest(t.ledger);
    t.ledger.claimExecution(dispatching, "bot");
    t.ledger.claimExecution(running, "bot");
    t.ledger.markRunning(running, "bot");
    t.ledger.claimExecution(finished, "bot");
    t.ledger.recordResult(finished, "runner", okResult);
    t.ledger.close();

    const again = openTestLedger(t.path).ledger;
    const recovered = again.recoverAfterCrash("bot");
    expect(recovered.map((r) => [r.id, r.state])).toEqual([
      [dispatching, "unknown"],
      [running, "unknown"],
    ]);
    const entries = again.tail(2);
    expect(entries.map((e) => JSON.parse(e.body) as { from: string; to: string })).toMatchObject([
      { requestId: dispatching, from: "dispatching", to: "unknown" },
      { requestId: running, from: "running", to: "unknown" },
    ]);
    expect(again.claimExecution(dispatching, "bot")).toEqual({ ok: false, reason: "already_claimed", state: "unknown" });
    expect(again.recordResult(running, "runner", okResult)).toBeNull();
    expect(again.getRequest(finished)!.state).toBe("succeeded");
    expect(again.getRequest(waiting)!.state).toBe("approved");
    expect(again.recoverAfterCrash("bot")).toEqual([]);
    expect(again.verify().ok).toBe(true);
  });
});

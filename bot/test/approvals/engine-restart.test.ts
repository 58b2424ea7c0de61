// Unit tests of restart safety in the approval engine: a request pending across a restart is
// decided by votes that arrive afterwards, expires if its time passed meanwhile, gets its prompt
// if it had none; a request caught mid-run becomes unknown and is never re-run; two engines on
// one ledger never both dispatch. Real SQLite ledger and policy; in-memory ports.
import { describe, expect, it, vi } from "vitest";
import { bashPermission, context, finished, harness, react, started } from "./engine-harness.ts";

describe("approval engine: restarts", () => {
  it("a pending request is approved by a vote delivered after the restart and runs once", async () => {
    const first = await harness();
    await first.engine.start();
    const p = bashPermission("make release-notes");
    await first.engine.onPermissionAsked(p, context());
    const req = first.ledger.byPermission("ses_1", p.id)!;
    const h = await first.restart();
    const vote = react(h, req.promptEventId!, "@alice:hs");
    await vote.done;
    // The same vote replayed by sync is a duplicate and changes nothing.
    await h.engine.onReaction({ roomId: req.room, eventId: vote.eventId, sender: "@alice:hs", targetEventId: req.promptEventId!, key: "✅", encrypted: false, originTs: 0 });
    expect(h.runner.grants).toHaveLength(1);
    expect(h.agent.to(p.id)).toEqual([{ reply: "once" }]);
    const call = { session: "ses_1", callId: p.tool!.callID };
    h.runner.emit(started(call));
    h.runner.emit(finished(call));
    await vi.waitFor(() => expect(h.ledger.getRequest(req.id)!.state).toBe("succeeded"));
  });

  it("a vote delivered by sync before start() is not taken for a crash leftover", async () => {
    const first = await harness();
    const p = bashPermission("make early");
    await first.engine.onPermissionAsked(p, context());
    const req = first.ledger.byPermission("ses_1", p.id)!;
    await first.engine.stop();
    first.ledger.close();
    // The new process handles the ✅ its sync delivers before its own start() has run.
    const h = await harness({ dbPath: first.dbPath, shared: { clock: first.clock, messenger: first.messenger, runner: first.runner, agent: first.agent, room: first.room } });
    await react(h, req.promptEventId!, "@alice:hs").done;
    await h.engine.start();
    expect(h.ledger.getRequest(req.id)!.state).toBe("dispatching");
    h.runner.emit(finished({ session: "ses_1", callId: p.tool!.callID }));
    await vi.waitFor(() => expect(h.ledger.getRequest(req.id)!.state).toBe("succeeded"));
    expect(h.runner.grants).toHaveLength(1);
  });

  it("a pending request whose time passed while the bot was down expires at start", async () => {
    const first = await harness();
    const p = bashPermission("make slow");
    await first.engine.onPermissionAsked(p, context());
    const req = first.ledger.byPermission("ses_1", p.id)!;
    first.clock.now += 16 * 60_000;
    const h = await first.restart();
    expect(h.ledger.getRequest(req.id)!.state).toBe("expired");
    expect(h.agent.to(p.id)[0]).toMatchObject({ reply: "reject" });
    await react(h, req.promptEventId!, "@alice:hs").done;
    expect(h.runner.grants).toHaveLength(0);
  });

  it("a request recorded but never prompted (crash before posting) gets its prompt at start", async () => {
    const first = await harness();
    const send = first.messenger.sendMarkdown.bind(first.messenger);
    first.messenger.sendMarkdown = async () => {
      throw new Error("homeserver unreachable");
    };
    const p = bashPermission("make unprompted");
    await first.engine.onPermissionAsked(p, context());
    expect(first.ledger.byPermission("ses_1", p.id)!.promptEventId).toBeNull();
    first.messenger.sendMarkdown = send;
    const h = await first.restart();
    const req = h.ledger.byPermission("ses_1", p.id)!;
    expect(req.promptEventId).not.toBeNull();
    await react(h, req.promptEventId!, "@bob:hs").done;
    expect(h.runner.grants).toHaveLength(1);
  });

  it("a request caught mid-run becomes unknown, is reported in its thread and is never re-run", async () => {
    const first = await harness();
    await first.engine.start();
    const p = bashPermission("make migrate");
    await first.engine.onPermissionAsked(p, context());
    const req = first.ledger.byPermission("ses_1", p.id)!;
    await react(first, req.promptEventId!, "@alice:hs").done;
    first.runner.emit(started({ session: "ses_1", callId: p.tool!.callID }));
    await vi.waitFor(() => expect(first.ledger.getRequest(req.id)!.state).toBe("running"));
    const h = await first.restart();
    expect(h.ledger.getRequest(req.id)!.state).toBe("unknown");
    expect(h.messenger.thread(req.promptEventId!).at(-1)!.markdown).toMatch(/was not run again/);
    expect(h.messenger.latest(req.promptEventId!)).toMatch(/it was not run again/);
    // The runner's late report cannot revive it, and no second grant or answer is ever made.
    h.runner.emit(finished({ session: "ses_1", callId: p.tool!.callID }));
    await react(h, req.promptEventId!, "@bob:hs").done;
    expect(h.runner.grants).toHaveLength(1);
    expect(h.agent.to(p.id)).toEqual([{ reply: "once" }]);
    expect(h.ledger.getRequest(req.id)!.state).toBe("unknown");
  });

  it("two engines on one ledger receiving the deciding votes at once dispatch exactly once", async () => {
    const a = await harness();
    const b = await harness({ dbPath: a.dbPath, shared: { clock: a.clock, messenger: a.messenger, room: a.room } });
    await a.engine.start();
    await b.engine.start();
    const p = bashPermission("deploy prod");
    await a.engine.onPermissionAsked(p, context());
    const req = a.ledger.byPermission("ses_1", p.id)!;
    a.room.joined.add("@carol:hs");
    a.room.levels["@carol:hs"] = 50;
    // Alice's ✅ is in (quorum 2); Bob's and Carol's arrive at once, each through its own engine.
    await react(a, req.promptEventId!, "@alice:hs").done;
    await Promise.all([react(a, req.promptEventId!, "@bob:hs").done, react(b, req.promptEventId!, "@carol:hs").done]);
    expect(a.ledger.getRequest(req.id)!.state).toBe("dispatching");
    expect(a.runner.grants.length + b.runner.grants.length).toBe(1);
    expect(a.agent.to(p.id).length + b.agent.to(p.id).length).toBe(1);
    const claims = [...a.ledger.history(req.id)].filter((e) => e.event === "exec.claim");
    expect(claims).toHaveLength(1);
  });

  it("the ledger verifies and holds the request, votes, decision and execution", async () => {
    const h = await harness();
    await h.engine.start();
    const p = bashPermission("make audit");
    await h.engine.onPermissionAsked(p, context());
    const req = h.ledger.byPermission("ses_1", p.id)!;
    await react(h, req.promptEventId!, "@alice:hs").done;
    h.runner.emit(started({ session: "ses_1", callId: p.tool!.callID }));
    h.runner.emit(finished({ session: "ses_1", callId: p.tool!.callID }));
    await vi.waitFor(() => expect(h.ledger.getRequest(req.id)!.state).toBe("succeeded"));
    expect(h.ledger.verify().ok).toBe(true);
    expect(h.ledger.history(req.id).map((e) => e.event)).toEqual([
      "request.create",
      "request.prompt",
      "request.review",
      "request.update",
      "exec.claim",
      "exec.start",
      "exec.result",
    ]);
  });
});

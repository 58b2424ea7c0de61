// Unit tests of vote counting in the approval engine: group quorum without self-approval, power
// levels and membership read at decision time, withdrawal by redaction, strict rules, standing
// rules from 🔁 / !always, and the rule commands. Real SQLite ledger and policy; in-memory ports.
import { describe, expect, it } from "vitest";
import { OWNER, ROOM, bashPermission, context, harness, react, runCommand, type Harness } from "./engine-harness.ts";

const verified = { encrypted: true, verifiedDevice: true, device: "PHONE" };
const unverified = { encrypted: true, verifiedDevice: false, device: "LAPTOP" };

async function ask(h: Harness, command: string) {
  const p = bashPermission(command);
  await h.engine.onPermissionAsked(p, context());
  const req = h.ledger.byPermission("ses_1", p.id)!;
  return { p, req, prompt: req.promptEventId! };
}

describe("approval engine: group rule, quorum 2, no self-approval", () => {
  it("counts only eligible, distinct people other than the requester; a redacted ✅ is withdrawn", async () => {
    const h = await harness();
    h.room.joined.add("@carol:hs");
    h.room.levels["@carol:hs"] = 50;
    const { req, prompt } = await ask(h, "deploy prod");
    expect(req.approval).toMatchObject({ quorum: 2, selfApproval: false, minPowerLevel: 50 });
    expect(req.rule).toBe("deploy-four-eyes");
    // The requester is not mentioned as an approver.
    expect(h.messenger.prompts()[0]!.opts.mentions).not.toContain(OWNER);

    await react(h, prompt, OWNER).done;
    expect(h.messenger.thread(prompt).at(-1)!.markdown).toMatch(/requester may not approve their own request/);
    await react(h, prompt, "@low:hs").done;
    expect(h.messenger.thread(prompt).at(-1)!.markdown).toMatch(/power level 0 is below 50/);
    await react(h, prompt, "@stranger:hs").done;
    expect(h.messenger.thread(prompt).at(-1)!.markdown).toMatch(/not a member of the room/);
    const alice = react(h, prompt, "@alice:hs");
    await alice.done;
    expect(h.ledger.getRequest(req.id)!.state).toBe("pending");
    expect(h.messenger.latest(prompt)).toMatch(/So far 1 of 2: @alice:hs/);

    // A moderator's redaction does not withdraw Alice's vote; only she can.
    await h.engine.onRedaction({ roomId: ROOM, eventId: "$redact0", sender: OWNER, redacts: alice.eventId });
    expect(h.ledger.getVote(alice.eventId)!.withdrawn).toBeNull();
    expect(h.messenger.thread(prompt).at(-1)!.markdown).toBe(`${OWNER} removed a vote of @alice:hs; only its voter can withdraw it, so it still counts.`);
    // Alice takes her ✅ back; Bob's alone is then not enough.
    await h.engine.onRedaction({ roomId: ROOM, eventId: "$redact1", sender: "@alice:hs", redacts: alice.eventId });
    expect(h.ledger.getVote(alice.eventId)!.withdrawn).toMatchObject({ by: "@alice:hs", redactionEventId: "$redact1" });
    await react(h, prompt, "@bob:hs").done;
    expect(h.ledger.getRequest(req.id)!.state).toBe("pending");
    expect(h.runner.grants).toHaveLength(0);

    await react(h, prompt, "@carol:hs").done;
    expect(h.ledger.getRequest(req.id)!.state).toBe("dispatching");
    expect(h.runner.grants).toHaveLength(1);
    expect(h.messenger.latest(prompt)).toMatch(/Approved by @bob:hs, @carol:hs/);
  });

  it("counts everyone who spoke in the turn as a requester: their ✅ is set aside, their ❌ denies", async () => {
    const h = await harness();
    h.room.joined.add("@carol:hs");
    h.room.levels["@carol:hs"] = 50;
    const p = bashPermission("deploy prod");
    // Alice started the turn, the owner spoke last: either may have caused the command.
    await h.engine.onPermissionAsked(p, context({ coRequesters: ["@alice:hs", OWNER] }));
    const req = h.ledger.byPermission("ses_1", p.id)!;
    const prompt = req.promptEventId!;
    expect(req.approval.coRequesters).toEqual(["@alice:hs"]);
    expect(h.messenger.prompts()[0]!.opts.mentions).not.toContain("@alice:hs");
    expect(h.messenger.prompts()[0]!.markdown).toMatch(/nor those of @alice:hs, who also spoke in this turn/);

    // Alice and Bob would meet the quorum of 2 were Alice not a requester too.
    await react(h, prompt, "@alice:hs").done;
    expect(h.messenger.thread(prompt).at(-1)!.markdown).toMatch(/requester may not approve their own request/);
    await react(h, prompt, "@bob:hs").done;
    expect(h.ledger.getRequest(req.id)!.state).toBe("pending");
    expect(h.runner.grants).toHaveLength(0);

    const again = bashPermission("deploy prod");
    await h.engine.onPermissionAsked(again, context({ coRequesters: ["@alice:hs"] }));
    const second = h.ledger.byPermission("ses_1", again.id)!;
    await react(h, second.promptEventId!, "@alice:hs", "❌").done;
    expect(h.ledger.getRequest(second.id)!.state).toBe("denied");
  });

  it("reads power levels and membership at decision time, not when the request was made", async () => {
    const h = await harness();
    const { req, prompt } = await ask(h, "deploy staging");
    h.room.levels["@low:hs"] = 50; // promoted after the prompt went out
    h.room.joined.delete("@bob:hs"); // left the room
    await react(h, prompt, "@low:hs").done;
    await react(h, prompt, "@bob:hs").done;
    expect(h.ledger.getRequest(req.id)!.state).toBe("pending");
    await react(h, prompt, "@alice:hs").done;
    expect(h.ledger.getRequest(req.id)!.state).toBe("dispatching");
    expect(h.messenger.latest(prompt)).toMatch(/Approved by @low:hs, @alice:hs/);
  });

  it("one eligible ❌ denies at once, even with approvals in", async () => {
    const h = await harness();
    const { p, req, prompt } = await ask(h, "deploy prod");
    await react(h, prompt, "@alice:hs").done;
    await react(h, prompt, "@bob:hs", "❌").done;
    expect(h.ledger.getRequest(req.id)!.state).toBe("denied");
    expect(h.agent.to(p.id)[0]).toMatchObject({ reply: "reject" });
  });

  it("a person who voted must withdraw before voting again", async () => {
    const h = await harness();
    const { prompt } = await ask(h, "deploy prod");
    await react(h, prompt, "@alice:hs").done;
    await react(h, prompt, "@alice:hs", "❌").done;
    expect(h.messenger.thread(prompt).at(-1)!.markdown).toMatch(/you already voted/);
  });
});

describe("approval engine: strict rule", () => {
  it("a reaction does not approve; !approve counts only encrypted from a cross-signed device", async () => {
    const h = await harness();
    const { req, prompt } = await ask(h, "npm publish");
    expect(req.approval.strict).toBe(true);
    // Only ❌ is pre-added: a ✅ reaction could not count.
    expect(h.messenger.sent.filter((s) => s.kind === "react").map((s) => s.kind === "react" && s.key)).toEqual(["❌"]);
    expect(h.messenger.prompts()[0]!.markdown).toMatch(/Strict rule: only an encrypted `!approve/);

    await react(h, prompt, "@alice:hs").done;
    expect(h.messenger.thread(prompt).at(-1)!.markdown).toMatch(/strict: approve with an encrypted !approve CODE, not a reaction/);
    await h.engine.onRedaction({ roomId: ROOM, eventId: "$r", sender: "@alice:hs", redacts: h.ledger.listVotes(req.id)[0]!.eventId });

    expect(await runCommand(h, "approve", req.code, "@alice:hs", unverified)).toMatch(/does not count: .*cross-signed/);
    expect(await runCommand(h, "approve", req.code, "@bob:hs", { encrypted: false, verifiedDevice: false, device: null })).toMatch(/does not count/);
    expect(h.ledger.getRequest(req.id)!.state).toBe("pending");
    expect(h.runner.grants).toHaveLength(0);

    await h.engine.onRedaction({ roomId: ROOM, eventId: "$r2", sender: "@alice:hs", redacts: h.ledger.tally(req.id).find((v) => v.voter === "@alice:hs")!.eventId });
    expect(await runCommand(h, "approve", req.code, "@alice:hs", verified)).toMatch(/Approved/);
    expect(h.ledger.getRequest(req.id)!.state).toBe("dispatching");
    const counted = h.ledger.tally(req.id).find((v) => v.voter === "@alice:hs")!;
    expect(counted).toMatchObject({ via: "command", encrypted: true, verifiedDevice: true, device: "PHONE" });
  });

  it("a ❌ reaction still denies a strict request", async () => {
    const h = await harness();
    const { req, prompt } = await ask(h, "npm publish --tag next");
    await react(h, prompt, "@bob:hs", "❌").done;
    expect(h.ledger.getRequest(req.id)!.state).toBe("denied");
  });
});

describe("approval engine: standing rules", () => {
  it("🔁 approves and creates a rule for exactly that command in this room; the next run needs no prompt", async () => {
    const h = await harness();
    const { req, prompt } = await ask(h, "make lint");
    await react(h, prompt, "@alice:hs", "🔁").done;
    expect(h.ledger.getRequest(req.id)!.state).toBe("dispatching");
    const [rule] = h.ledger.listStandingRules();
    expect(rule).toMatchObject({ tool: "bash", argvPrefix: ["make", "lint"], room: ROOM, project: "app", createdBy: "@alice:hs", sourceRequest: req.id });
    expect(h.messenger.thread(prompt).at(-1)!.markdown).toMatch(/`make lint` runs without asking in this room for 24 h/);

    const again = bashPermission("make lint");
    await h.engine.onPermissionAsked(again, context());
    expect(h.agent.to(again.id)).toEqual([{ reply: "once" }]);
    expect(h.messenger.prompts()).toHaveLength(1);
    // The rule is a literal argv prefix; a compound command never matches it.
    const compound = bashPermission("make lint && make deploy");
    await h.engine.onPermissionAsked(compound, context());
    expect(h.messenger.prompts()).toHaveLength(2);

    expect(await runCommand(h, "rules", "", "@bob:hs")).toContain("`make lint`");
    expect(await runCommand(h, "revoke", rule!.id.slice(0, 8), "@low:hs")).toMatch(/Only @alice:hs or someone with power level ≥ 50/);
    expect(await runCommand(h, "revoke", rule!.id.slice(0, 8), "@bob:hs")).toMatch(/Revoked/);
    const third = bashPermission("make lint");
    await h.engine.onPermissionAsked(third, context());
    expect(h.messenger.prompts()).toHaveLength(3);
  });

  it("🔁 makes a rule only when as many approvers as the quorum ask for it, or a room admin does", async () => {
    const h = await harness();
    h.room.joined.add("@carol:hs");
    h.room.levels["@carol:hs"] = 50;
    const first = await ask(h, "make schema");
    await react(h, first.prompt, "@alice:hs", "🔁").done;
    await react(h, first.prompt, "@bob:hs").done;
    expect(h.ledger.getRequest(first.req.id)!.state).toBe("dispatching");
    expect(h.ledger.listStandingRules()).toHaveLength(0);
    expect(h.messenger.thread(first.prompt).at(-1)!.markdown).toBe(
      "🔁 No standing rule: 1 of the 2 approvers asked for one; it takes all 2, or a room admin. This run was approved once.",
    );

    const second = await ask(h, "make schema");
    await react(h, second.prompt, "@alice:hs", "🔁").done;
    await react(h, second.prompt, "@bob:hs", "🔁").done;
    expect(h.ledger.listStandingRules()).toMatchObject([{ argvPrefix: ["make", "schema"], createdBy: "@alice:hs" }]);
    expect(h.messenger.thread(second.prompt).at(-1)!.markdown).toMatch(/set by @alice:hs, @bob:hs;/);

    const admin = await harness();
    admin.room.levels["@alice:hs"] = 100;
    const third = await ask(admin, "make schema");
    await react(admin, third.prompt, "@alice:hs", "🔁").done;
    await react(admin, third.prompt, "@bob:hs").done;
    expect(admin.ledger.listStandingRules()).toMatchObject([{ argvPrefix: ["make", "schema"], createdBy: "@alice:hs" }]);
  });

  it("offers no 🔁 when a dangerous rule could match a longer command with the same words", async () => {
    const h = await harness();
    const { req, prompt } = await ask(h, "git push origin");
    expect(h.messenger.sent.filter((s) => s.kind === "react").map((s) => s.kind === "react" && s.key)).toEqual(["✅", "❌"]);
    await runCommand(h, "always", req.code, "@alice:hs");
    expect(h.ledger.getRequest(req.id)!.state).toBe("dispatching");
    expect(h.ledger.listStandingRules()).toHaveLength(0);
    expect(h.messenger.thread(prompt).at(-1)!.markdown).toMatch(/`git push origin …` could also match the dangerous rule "no-force-push"/);
  });

  it("!always on a high-risk request approves once and explains why no rule was made", async () => {
    const h = await harness();
    const { req, prompt } = await ask(h, "deploy prod");
    // No 🔁 is offered for it.
    expect(h.messenger.sent.filter((s) => s.kind === "react").map((s) => s.kind === "react" && s.key)).toEqual(["✅", "❌"]);
    await runCommand(h, "always", req.code, "@alice:hs");
    await runCommand(h, "approve", req.code, "@bob:hs");
    expect(h.ledger.getRequest(req.id)!.state).toBe("dispatching");
    expect(h.ledger.listStandingRules()).toHaveLength(0);
    expect(h.messenger.thread(prompt).at(-1)!.markdown).toMatch(/No standing rule: it belongs to the dangerous class \(rule "deploy-four-eyes"\)/);
  });
});

describe("approval commands", () => {
  it("answer an unknown code, a code from another room, and refuse without an event id", async () => {
    const h = await harness();
    expect(await runCommand(h, "approve", "ZZZZZZ", "@alice:hs")).toMatch(/No request in this room has the code `ZZZZZZ`/);
    expect(await runCommand(h, "approve", "", "@alice:hs")).toMatch(/Usage/);
    const p = bashPermission("make other");
    await h.engine.onPermissionAsked(p, context({ roomId: "!other:hs" }));
    const req = h.ledger.byPermission("ses_1", p.id)!;
    expect(await runCommand(h, "approve", req.code, "@alice:hs")).toMatch(/No request in this room/);
    const approve = h.engine.commands.find((c) => c.name === "approve")!;
    await expect(approve.execute({ args: req.code, sender: "@alice:hs", roomId: "!other:hs", sentAt: 0, now: () => 0, commands: [] })).rejects.toThrow(/eventId/);
  });
});

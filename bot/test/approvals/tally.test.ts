import { describe, expect, it } from "vitest";
import { tally, type ApprovalSpec, type RoomView, type Vote } from "../../src/approvals/tally.ts";

const levels: Record<string, number> = { "@owner:hs": 100, "@alice:hs": 50, "@bob:hs": 50, "@carol:hs": 50, "@low:hs": 0, "@bot:hs": 100 };
const room: RoomView = {
  isJoined: (u) => u in levels,
  powerLevel: (u) => levels[u] ?? 0,
};

let n = 0;
function vote(voter: string, decision: Vote["decision"] = "approve", extra: Partial<Vote> = {}): Vote {
  return { eventId: `$e${n++}`, voter, decision, via: "reaction", verifiedDevice: false, ...extra };
}

const group: ApprovalSpec = { quorum: 2, minPowerLevel: 50, selfApproval: false, strict: false };
const run = (spec: ApprovalSpec, votes: Vote[]) => tally({ spec, requester: "@owner:hs", botUserId: "@bot:hs", votes, room });

describe("tally", () => {
  it("a single eligible approval meets quorum 1", () => {
    expect(run({ quorum: 1, selfApproval: true, strict: false }, [vote("@owner:hs")]).outcome).toBe("approved");
  });

  it("the requester's approval does not count without self-approval", () => {
    const t = run(group, [vote("@owner:hs"), vote("@alice:hs")]);
    expect(t.outcome).toBe("pending");
    expect(t.approvers).toEqual(["@alice:hs"]);
    expect(t.ignored[0]?.why).toMatch(/requester/);
  });

  it("the requester may deny their own request, whatever their power level or self-approval", () => {
    const t = run(group, [vote("@owner:hs", "deny"), vote("@alice:hs"), vote("@bob:hs")]);
    expect(t.outcome).toBe("denied");
    expect(t.deniers).toEqual(["@owner:hs"]);
    const low = tally({ spec: group, requester: "@low:hs", botUserId: "@bot:hs", votes: [vote("@low:hs", "deny")], room });
    expect(low.outcome).toBe("denied");
  });

  it("co-requesters count as requesters: their approvals are set aside, their denials count", () => {
    const spec: ApprovalSpec = { ...group, quorum: 1, coRequesters: ["@alice:hs"] };
    const t = run(spec, [vote("@alice:hs"), vote("@bob:hs")]);
    expect(t.approvers).toEqual(["@bob:hs"]);
    expect(t.ignored[0]).toMatchObject({ voter: "@alice:hs", why: "the requester may not approve their own request" });
    expect(run(spec, [vote("@alice:hs", "deny")]).outcome).toBe("denied");
    expect(run({ ...spec, selfApproval: true }, [vote("@alice:hs")]).outcome).toBe("approved");
  });

  it("two distinct eligible approvers meet quorum 2", () => {
    expect(run(group, [vote("@alice:hs"), vote("@bob:hs")]).outcome).toBe("approved");
  });

  it("the same person twice counts once", () => {
    expect(run(group, [vote("@alice:hs"), vote("@alice:hs")]).outcome).toBe("pending");
  });

  it("non-members, low power levels and the bot never count", () => {
    const t = run(group, [vote("@stranger:hs"), vote("@low:hs"), vote("@bot:hs"), vote("@alice:hs")]);
    expect(t.outcome).toBe("pending");
    expect(t.ignored.map((i) => i.why)).toEqual([
      "not a member of the room",
      "power level 0 is below 50",
      "the bot never votes",
    ]);
  });

  it("an approver list admits listed users below the power level", () => {
    const spec: ApprovalSpec = { quorum: 1, users: ["@low:hs"], selfApproval: false, strict: false };
    expect(run(spec, [vote("@low:hs")]).outcome).toBe("approved");
    expect(run(spec, [vote("@alice:hs")]).ignored[0]?.why).toBe("not on the approver list");
  });

  it("one eligible denial denies, an ineligible one does not", () => {
    expect(run(group, [vote("@alice:hs"), vote("@bob:hs"), vote("@carol:hs", "deny")]).outcome).toBe("denied");
    expect(run(group, [vote("@low:hs", "deny")]).outcome).toBe("pending");
  });

  it("a deny quorum above one needs that many denials", () => {
    const spec = { ...group, denyQuorum: 2 };
    expect(run(spec, [vote("@alice:hs", "deny")]).outcome).toBe("pending");
    expect(run(spec, [vote("@alice:hs", "deny"), vote("@bob:hs", "deny")]).outcome).toBe("denied");
  });

  it("strict rules ignore reactions and unverified devices but accept verified commands", () => {
    const strict: ApprovalSpec = { quorum: 1, selfApproval: true, strict: true };
    expect(run(strict, [vote("@alice:hs", "approve", { verifiedDevice: true })]).outcome).toBe("pending");
    expect(run(strict, [vote("@alice:hs", "approve", { via: "command" })]).outcome).toBe("pending");
    expect(run(strict, [vote("@alice:hs", "approve", { via: "command", verifiedDevice: true })]).outcome).toBe("approved");
  });

  it("reports who asked for a standing rule only among counted approvers", () => {
    const t = run({ quorum: 1, selfApproval: false, strict: false }, [vote("@owner:hs", "always"), vote("@alice:hs", "always")]);
    expect(t.alwaysBy).toEqual(["@alice:hs"]);
  });
});

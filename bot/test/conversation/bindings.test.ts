import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RoomBindings } from "../../src/conversation/bindings.ts";
import { Ledger } from "../../src/ledger/ledger.ts";

describe("room bindings", () => {
  let ledger: Ledger;
  afterEach(() => ledger.close());
  const fresh = () => Ledger.open(join(mkdtempSync(join(tmpdir(), "pc-bindings-")), "pocketcoder.db"));

  it("binds, finds by room and by session, rebinds, and audits each binding", () => {
    ledger = fresh();
    let t = 1_000;
    const bindings = new RoomBindings(ledger, () => t);
    expect(bindings.get("!r:x")).toBeNull();

    bindings.bind({ roomId: "!r:x", project: "demo", directory: "/w/demo", sessionId: "ses_1", boundBy: "@a:x" });
    expect(bindings.get("!r:x")).toEqual({ roomId: "!r:x", project: "demo", directory: "/w/demo", sessionId: "ses_1", boundBy: "@a:x", boundAt: 1_000 });
    expect(bindings.bySession("ses_1")?.roomId).toBe("!r:x");

    t = 2_000;
    bindings.bind({ roomId: "!r:x", project: "demo", directory: "/w/demo", sessionId: "ses_2", boundBy: "@b:x" });
    expect(bindings.get("!r:x")).toMatchObject({ sessionId: "ses_2", boundBy: "@b:x", boundAt: 2_000 });
    expect(bindings.bySession("ses_1")).toBeNull();
    expect(bindings.all()).toHaveLength(1);

    const audit = [...ledger.entries()].filter((e) => e.event === "room.bind").map((e) => ({ actor: e.actor, body: JSON.parse(e.body) as Record<string, unknown> }));
    expect(audit).toEqual([
      { actor: "@a:x", body: { room: "!r:x", project: "demo", directory: "/w/demo", session: "ses_1", previousSession: null } },
      { actor: "@b:x", body: { room: "!r:x", project: "demo", directory: "/w/demo", session: "ses_2", previousSession: "ses_1" } },
    ]);
    expect(ledger.verify().ok).toBe(true);
  });

  it("refuses two rooms on one session", () => {
    ledger = fresh();
    const bindings = new RoomBindings(ledger);
    bindings.bind({ roomId: "!a:x", project: "a", directory: "/w/a", sessionId: "ses_1", boundBy: "@a:x" });
    expect(() => bindings.bind({ roomId: "!b:x", project: "b", directory: "/w/b", sessionId: "ses_1", boundBy: "@a:x" })).toThrow(/UNIQUE/);
    // The failed binding left no audit entry behind.
    expect([...ledger.entries()].filter((e) => e.event === "room.bind")).toHaveLength(1);
  });
});

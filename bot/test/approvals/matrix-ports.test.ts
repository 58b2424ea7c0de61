// Unit tests of turning Matrix events into the engine's inputs (reactions and redactions), with
// matrix-js-sdk's own MatrixEvent; the client-backed ports are exercised end to end.
import { MatrixEvent, type Room } from "matrix-js-sdk";
import { describe, expect, it } from "vitest";
import { reactionInput, redactionInput } from "../../src/approvals/matrix-ports.ts";

const room = { roomId: "!r:hs" } as Room;

describe("matrix ports", () => {
  it("reads an annotation as a reaction input", () => {
    const ev = new MatrixEvent({
      type: "m.reaction",
      event_id: "$re",
      sender: "@bob:hs",
      origin_server_ts: 42,
      content: { "m.relates_to": { rel_type: "m.annotation", event_id: "$prompt", key: "✅" } },
    });
    expect(reactionInput(ev, room)).toEqual({ roomId: "!r:hs", eventId: "$re", sender: "@bob:hs", targetEventId: "$prompt", key: "✅", encrypted: false, originTs: 42 });
  });

  it("ignores non-annotation relations and other event types", () => {
    const reply = new MatrixEvent({ type: "m.reaction", event_id: "$x", sender: "@b:hs", content: { "m.relates_to": { rel_type: "m.reference", event_id: "$p" } } });
    expect(reactionInput(reply, room)).toBeNull();
    const text = new MatrixEvent({ type: "m.room.message", event_id: "$y", sender: "@b:hs", content: { body: "✅" } });
    expect(reactionInput(text, room)).toBeNull();
    expect(redactionInput(text, room)).toBeNull();
  });

  it("reads the redacted event id from the top level (old rooms) or the content (v11+)", () => {
    const old = new MatrixEvent({ type: "m.room.redaction", event_id: "$d1", sender: "@bob:hs", redacts: "$re", content: {} });
    expect(redactionInput(old, room)).toEqual({ roomId: "!r:hs", eventId: "$d1", sender: "@bob:hs", redacts: "$re" });
    const v11 = new MatrixEvent({ type: "m.room.redaction", event_id: "$d2", sender: "@bob:hs", content: { redacts: "$re2" } });
    expect(redactionInput(v11, room)?.redacts).toBe("$re2");
  });
});

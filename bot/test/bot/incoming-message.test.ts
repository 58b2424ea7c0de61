// Which Matrix events reach the chat router, and as what text: the event as sent (not as a later
// edit rewrote it) and without an older client's quoted reply fallback.
import { MatrixEvent, type Room } from "matrix-js-sdk";
import { describe, expect, it } from "vitest";
import { toIncomingMessage } from "../../src/bot.ts";

const room = { roomId: "!r:x" } as Room;
let n = 0;
function message(content: Record<string, unknown>): MatrixEvent {
  return new MatrixEvent({ type: "m.room.message", event_id: `$m${++n}`, sender: "@alice:x", room_id: room.roomId, origin_server_ts: 1_000, content });
}

describe("toIncomingMessage", () => {
  it("routes a text message as sent", () => {
    expect(toIncomingMessage(message({ msgtype: "m.text", body: "!approve ABC" }), room)).toMatchObject({ sender: "@alice:x", body: "!approve ABC", sentAt: 1_000 });
  });

  it("keeps the original text when an edit has already been applied to the event", () => {
    const original = message({ msgtype: "m.text", body: "!deny ABC" });
    const edit = message({
      msgtype: "m.text",
      body: "* !approve ABC",
      "m.new_content": { msgtype: "m.text", body: "!approve ABC" },
      "m.relates_to": { rel_type: "m.replace", event_id: original.getId() },
    });
    original.makeReplaced(edit);
    expect(original.getContent().body).toBe("!approve ABC");
    expect(toIncomingMessage(original, room)?.body).toBe("!deny ABC");
    expect(toIncomingMessage(edit, room)).toBeNull();
  });

  it("drops a reply's quoted fallback, so a command sent as a reply still parses", () => {
    const reply = message({
      msgtype: "m.text",
      body: "> <@bot:x> **bash** needs approval\n> `rm -r build`\n\n!approve ABC",
      "m.relates_to": { "m.in_reply_to": { event_id: "$prompt" } },
    });
    expect(toIncomingMessage(reply, room)?.body).toBe("!approve ABC");
    // Without a reply relation, quoted lines are what the person wrote.
    expect(toIncomingMessage(message({ msgtype: "m.text", body: "> quoted\n\nmine" }), room)?.body).toBe("> quoted\n\nmine");
  });
});

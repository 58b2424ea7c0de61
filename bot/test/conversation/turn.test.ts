import { describe, expect, it } from "vitest";
import type { AgentEvent } from "../../src/agent/events.ts";
import { createLogger } from "../../src/log.ts";
import type { Messenger } from "../../src/matrix/messenger.ts";
import { Turn } from "../../src/conversation/turn.ts";

function recordingMessenger() {
  const sent: { kind: "send" | "edit"; text: string; opts?: unknown }[] = [];
  const messenger = {
    sendMarkdown: async (_room: string, text: string, opts?: unknown) => {
      sent.push({ kind: "send", text, opts });
      return "$reply";
    },
    edit: async (_room: string, id: string, text: string) => {
      expect(id).toBe("$reply");
      sent.push({ kind: "edit", text });
      return "$edit";
    },
  } as unknown as Messenger;
  return { sent, messenger };
}

const s = "ses_1";
const ev = (e: unknown) => e as AgentEvent;
const assistant = ev({ type: "message.updated", properties: { sessionID: s, info: { id: "m1", sessionID: s, role: "assistant" } } });
const delta = (text: string) => ev({ type: "message.part.delta", properties: { sessionID: s, messageID: "m1", partID: "p1", field: "text", delta: text } });
const idle = ev({ type: "session.idle", properties: { sessionID: s } });

describe("a turn", () => {
  it("posts a placeholder at once where the message was, edits it, and ends with the complete text", async () => {
    const { sent, messenger } = recordingMessenger();
    const turn = new Turn({ roomId: "!r:x", sessionId: s, messenger, placement: { threadRoot: "$root" }, log: createLogger("t", () => {}), editIntervalMs: 60_000 });
    expect(await turn.replyEventId()).toBe("$reply");
    expect(sent[0]).toEqual({ kind: "send", text: "…", opts: { threadRoot: "$root" } });

    turn.apply(assistant);
    turn.apply(delta("Hello"));
    turn.apply(delta(", world"));
    turn.apply(idle);
    expect(turn.done).toBe(true);
    await turn.finish();
    // Paced: the interval kept the middle versions back; the last edit is the whole answer.
    expect(sent.at(-1)).toEqual({ kind: "edit", text: "Hello, world" });
    expect(sent.filter((m) => m.kind === "edit").map((m) => m.text)).toEqual(["Hello", "Hello, world"]);
  });

  it("appends a note when it is cut short, and finishing twice sends once", async () => {
    const { sent, messenger } = recordingMessenger();
    const turn = new Turn({ roomId: "!r:x", sessionId: s, messenger, placement: {}, log: createLogger("t", () => {}) });
    turn.apply(assistant);
    turn.apply(delta("Partial"));
    await Promise.all([turn.finish("⚠ Interrupted."), turn.finish("other")]);
    expect(sent.at(-1)).toEqual({ kind: "edit", text: "Partial\n\n⚠ Interrupted." });
    expect(sent.filter((m) => m.text.includes("other"))).toEqual([]);
  });

  it("treats the latest person to start or join it as the requester, and keeps tool parts by call", () => {
    const { messenger } = recordingMessenger();
    const turn = new Turn({ roomId: "!r:x", sessionId: s, messenger, placement: {}, log: createLogger("t", () => {}) });
    expect(turn.requester).toBeUndefined();
    turn.addRequester("@alice:x");
    turn.addRequester("@bob:x");
    expect(turn.requester).toBe("@bob:x");
    turn.addRequester("@alice:x");
    turn.addRequester("@bob:x");
    expect(turn.coRequesters).toEqual(["@alice:x"]);
    const part = { id: "p2", sessionID: s, messageID: "m1", type: "tool", tool: "bash", callID: "call_1", state: { status: "running", input: { command: "ls" } } };
    turn.apply(ev({ type: "message.part.updated", properties: { sessionID: s, part } }));
    expect(turn.toolPart("call_1")).toEqual(part);
    expect(turn.toolPart("call_2")).toBeUndefined();
  });
});

import { describe, expect, it } from "vitest";
import { parseAgentEvent, type AgentEvent } from "../../src/agent/events.ts";
import { TurnRenderer } from "../../src/agent/turn-renderer.ts";

const S = "ses_1";
// Events go through the real validator, so the fixtures are held to the same shapes opencode sends.
const ev = (type: string, properties: Record<string, unknown>): AgentEvent => {
  const p = parseAgentEvent({ id: "evt", type, properties });
  if (!p.ok) throw new Error(`fixture ${type} invalid: ${p.reason} ${p.error ?? ""}`);
  return p.event;
};
const message = (id: string, role: "user" | "assistant") => ev("message.updated", { sessionID: S, info: { id, sessionID: S, role } });
const textPart = (id: string, messageID: string, text: string) => ev("message.part.updated", { sessionID: S, part: { id, messageID, sessionID: S, type: "text", text } });
const delta = (partID: string, messageID: string, d: string) => ev("message.part.delta", { sessionID: S, messageID, partID, field: "text", delta: d });
const tool = (id: string, state: Record<string, unknown>, callID = "call_1", name = "bash") =>
  ev("message.part.updated", { sessionID: S, part: { id, messageID: "m2", sessionID: S, type: "tool", tool: name, callID, state } });
const input = { command: "echo hi", description: "say hi" };

function render(events: AgentEvent[]): TurnRenderer {
  const r = new TurnRenderer(S);
  for (const e of events) r.apply(e);
  return r;
}

describe("turn renderer", () => {
  it("shows a placeholder before anything arrives and a note when a finished turn said nothing", () => {
    expect(render([]).render()).toBe("…");
    expect(render([ev("session.idle", { sessionID: S })]).render()).toBe("(no reply)");
  });

  it("streams deltas by part id and replaces them with the final full text", () => {
    const r = render([message("m1", "user"), textPart("p0", "m1", "the prompt"), message("m2", "assistant"), textPart("p1", "m2", ""), delta("p1", "m2", "Hel"), delta("p1", "m2", "lo")]);
    expect(r.render()).toBe("Hello");
    r.apply(textPart("p1", "m2", "Hello, world."));
    expect(r.render()).toBe("Hello, world.");
    expect(r.done).toBe(false);
    r.apply(ev("session.idle", { sessionID: S }));
    expect(r.done).toBe(true);
    expect(r.render()).toBe("Hello, world.");
  });

  it("never shows the user's own prompt text", () => {
    expect(render([message("m1", "user"), textPart("p0", "m1", "secret plan")]).render()).toBe("…");
  });

  it("ignores other sessions and non-text deltas", () => {
    const other = ev("message.part.delta", { sessionID: "ses_2", messageID: "m2", partID: "p1", field: "text", delta: "x" });
    const r = render([message("m2", "assistant"), textPart("p1", "m2", "A"), other, ev("message.part.delta", { sessionID: S, messageID: "m2", partID: "p1", field: "reasoning", delta: "hmm" })]);
    expect(r.render()).toBe("A");
  });

  it("shows tool activity as one short line per call, following its state", () => {
    const r = render([message("m2", "assistant"), textPart("p1", "m2", "Let me check."), tool("t1", { status: "pending", input: {}, raw: "" })]);
    expect(r.render()).toBe("Let me check."); // nothing to show while the call is being prepared
    r.apply(tool("t1", { status: "running", input, time: { start: 1 } }));
    expect(r.render()).toBe("Let me check.\n\n🔧 bash: say hi — running");
    r.apply(tool("t1", { status: "completed", input, output: "hi\n", title: "echo hi", metadata: {}, time: { start: 1, end: 2 } }));
    r.apply(tool("t2", { status: "error", input: { filePath: "/etc/x" }, error: "no such file\nmore", time: { start: 1, end: 2 } }, "call_2", "read"));
    expect(r.render()).toBe("Let me check.\n\n🔧 bash: say hi — done\n🔧 read: /etc/x — failed: no such file ⏎ more");
  });

  it("marks a call waiting for approval until the permission is answered, even if the part is still pending", () => {
    const asked = ev("permission.asked", { id: "per_1", sessionID: S, permission: "bash", patterns: ["echo hi"], metadata: { command: "echo hi" }, always: ["echo *"], tool: { messageID: "m2", callID: "call_1" } });
    const r = render([message("m2", "assistant"), asked, tool("t1", { status: "pending", input: {}, raw: "" })]);
    expect(r.render()).toBe("🔧 bash — waiting for approval");
    r.apply(tool("t1", { status: "running", input, time: { start: 1 } }));
    expect(r.render()).toBe("🔧 bash: say hi — waiting for approval");
    r.apply(ev("permission.replied", { sessionID: S, requestID: "per_1", reply: "once" }));
    expect(r.render()).toBe("🔧 bash: say hi — running");
  });

  it("keeps tool labels to one line with control characters visible", () => {
    const r = render([message("m2", "assistant"), tool("t1", { status: "running", input: { command: "printf 'a\\x1b[2J'\u001b[2J; " + "x".repeat(200) }, time: { start: 1 } })]);
    const line = r.render();
    expect(line).toContain("^[[2J");
    expect(line).not.toContain("\u001b");
    expect(line.length).toBeLessThan(120);
  });

  it("shows errors plainly and an abort as stopped", () => {
    const r = render([
      message("m2", "assistant"),
      textPart("p1", "m2", "Working"),
      ev("session.error", { sessionID: S, error: { name: "APIError", data: { message: "rate limited" } } }),
      ev("session.error", { sessionID: S, error: { name: "MessageAbortedError", data: { message: "Aborted" } } }),
      ev("session.idle", { sessionID: S }),
    ]);
    expect(r.render()).toBe("Working\n\n⚠ APIError: rate limited\n\n⏹ Stopped.");
  });

  it("shows a retry while it lasts", () => {
    const r = render([ev("session.status", { sessionID: S, status: { type: "retry", attempt: 2, message: "overloaded", next: 5 } })]);
    expect(r.render()).toBe("⏳ Retrying (attempt 2): overloaded");
    r.apply(ev("session.status", { sessionID: S, status: { type: "busy" } }));
    expect(r.render()).toBe("…");
  });
});

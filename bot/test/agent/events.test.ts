import { describe, expect, it } from "vitest";
import { AgentEvents, parseAgentEvent, type AgentEvent } from "../../src/agent/events.ts";

const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

describe("event parsing", () => {
  it("narrows tool and text parts and turns other parts into `other`", () => {
    const tool = parseAgentEvent({ type: "message.part.updated", properties: { sessionID: "s", part: { id: "p", sessionID: "s", messageID: "m", type: "tool", tool: "bash", callID: "c", state: { status: "running", input: { command: "ls" }, time: { start: 1 } } } } });
    expect(tool.ok && tool.event.type === "message.part.updated" && tool.event.properties.part).toMatchObject({ type: "tool", tool: "bash", state: { status: "running", input: { command: "ls" } } });
    const step = parseAgentEvent({ type: "message.part.updated", properties: { sessionID: "s", part: { id: "p", sessionID: "s", messageID: "m", type: "step-start" } } });
    expect(step.ok && step.event.type === "message.part.updated" && step.event.properties.part).toEqual({ type: "other", partType: "step-start", id: "p", sessionID: "s", messageID: "m" });
  });

  it("reports unknown types (heartbeats, diffs) apart from invalid known ones", () => {
    expect(parseAgentEvent({ type: "server.heartbeat", properties: {} })).toEqual({ ok: false, type: "server.heartbeat", reason: "unknown" });
    expect(parseAgentEvent("garbage")).toEqual({ ok: false, type: "", reason: "unknown" });
    const bad = parseAgentEvent({ type: "permission.asked", properties: { id: "per_1", sessionID: "s" } });
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.reason).toBe("invalid");
    expect(!bad.ok && bad.error).toContain("properties.permission");
    const badTool = parseAgentEvent({ type: "message.part.updated", properties: { sessionID: "s", part: { id: "p", sessionID: "s", messageID: "m", type: "tool", tool: "bash", callID: "c", state: { status: "completed" } } } });
    expect(!badTool.ok && badTool.reason).toBe("invalid");
  });
});

describe("dispatch", () => {
  it("delivers events to the session's handlers and to global ones, with the directory; unsubscribing works", () => {
    const events = new AgentEvents({ client: () => undefined, logger: quiet });
    const a: AgentEvent[] = [];
    const all: { type: string; dir: string | undefined }[] = [];
    const off = events.onSession("ses_a", (e) => a.push(e));
    events.onEvent((e, ctx) => all.push({ type: e.type, dir: ctx.directory }));
    let connected = 0;
    events.onConnected(() => connected++);

    events.dispatchFrame({ payload: { type: "server.connected", properties: {} } });
    events.dispatchFrame({ directory: "/w/p", payload: { type: "session.idle", properties: { sessionID: "ses_a" } } });
    events.dispatchFrame({ directory: "/w/q", payload: { type: "session.idle", properties: { sessionID: "ses_b" } } });
    events.dispatchFrame({ directory: "/w/p", payload: { type: "server.heartbeat", properties: {} } });
    events.dispatchFrame({ directory: "/w/p", payload: { type: "sync", name: "message.updated.1" } });
    off();
    events.dispatchFrame({ directory: "/w/p", payload: { type: "session.idle", properties: { sessionID: "ses_a" } } });

    expect(connected).toBe(1);
    expect(a).toEqual([{ type: "session.idle", properties: { sessionID: "ses_a" } }]);
    expect(all).toEqual([
      { type: "server.connected", dir: undefined },
      { type: "session.idle", dir: "/w/p" },
      { type: "session.idle", dir: "/w/q" },
      { type: "session.idle", dir: "/w/p" },
    ]);
  });

  it("keeps dispatching when a handler throws", () => {
    const events = new AgentEvents({ client: () => undefined, logger: quiet });
    const seen: string[] = [];
    events.onSession("s", () => {
      throw new Error("boom");
    });
    events.onSession("s", (e) => seen.push(e.type));
    events.dispatchFrame({ payload: { type: "session.idle", properties: { sessionID: "s" } } });
    expect(seen).toEqual(["session.idle"]);
  });
});

// The agent bridge against the real `opencode serve` and the scripted model endpoint.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { match, plan, startScriptedLlm, type ScriptedLlm } from "@pocketcoder/testkit/scripted-llm";
import { startTestOpencode, type TestOpencode } from "@pocketcoder/testkit/opencode";
import { AgentEvents, agentEventTypes, type AgentEvent } from "../../src/agent/events.ts";
import { createSession, pendingPermissions, replyPermission, sendPrompt, stopSession } from "../../src/agent/sessions.ts";
import { TurnRenderer } from "../../src/agent/turn-renderer.ts";

const botSecret = "bot-secret-value-that-must-not-leak";

// Records each session's events and lets a test wait for one.
class Recorder {
  readonly bySession = new Map<string, AgentEvent[]>();
  private waiters: { sessionID: string; pred: (e: AgentEvent) => boolean; resolve: (e: AgentEvent) => void }[] = [];
  connections = 0;

  constructor(events: AgentEvents) {
    events.onConnected(() => this.connections++);
    events.onEvent((ev) => {
      if (ev.type === "server.connected") return;
      const list = this.bySession.get(ev.properties.sessionID ?? "") ?? [];
      list.push(ev);
      this.bySession.set(ev.properties.sessionID ?? "", list);
      for (const w of [...this.waiters])
        if (w.sessionID === ev.properties.sessionID && w.pred(ev)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(ev);
        }
    });
  }

  /** Resolves with the first event (already seen or future) of the session matching `pred`. */
  waitFor<T extends AgentEvent["type"]>(sessionID: string, type: T, pred: (e: Extract<AgentEvent, { type: T }>) => boolean = () => true) {
    const test = (e: AgentEvent): boolean => e.type === type && pred(e as Extract<AgentEvent, { type: T }>);
    const seen = this.bySession.get(sessionID)?.find(test);
    if (seen) return Promise.resolve(seen as Extract<AgentEvent, { type: T }>);
    return new Promise<Extract<AgentEvent, { type: T }>>((resolve) => this.waiters.push({ sessionID, pred: test, resolve: resolve as (e: AgentEvent) => void }));
  }

  /** Resolves once the event stream has connected more than `count` times. */
  async reconnectedAfter(count: number): Promise<void> {
    while (this.connections <= count) await new Promise((r) => setTimeout(r, 50));
  }

  render(sessionID: string): TurnRenderer {
    const r = new TurnRenderer(sessionID);
    for (const e of this.bySession.get(sessionID) ?? []) r.apply(e);
    return r;
  }
}

describe("opencode bridge (real opencode, scripted model)", () => {
  let llm: ScriptedLlm;
  let oc: TestOpencode;
  let events: AgentEvents;
  let rec: Recorder;

  beforeAll(async () => {
    process.env.POCKETCODER_TEST_BOT_SECRET = botSecret;
    llm = await startScriptedLlm();
    oc = await startTestOpencode({ llm });
    events = new AgentEvents({ client: () => oc.proc.client, reconnectDelayMs: 100 });
    rec = new Recorder(events);
    events.start();
    await new Promise<void>((resolve) => {
      const off = events.onConnected(() => (off(), resolve()));
    });
  });

  afterAll(async () => {
    await events?.stop();
    await oc?.stop();
    await llm?.close();
  });

  it("streams a text reply as deltas, ends with session.idle, and renders exactly the reply", async () => {
    llm.reply.textChunks(["Hello ", "from ", "the scripted model."]);
    const sessionID = await createSession(oc.client, { directory: oc.directory, title: "text turn" });
    await sendPrompt(oc.client, { directory: oc.directory, sessionID, text: "say hello" });
    await rec.waitFor(sessionID, "session.idle");

    const deltas = (rec.bySession.get(sessionID) ?? []).flatMap((e) => (e.type === "message.part.delta" ? [e.properties.delta] : []));
    expect(deltas.join("")).toBe("Hello from the scripted model.");
    const turn = rec.render(sessionID);
    expect(turn.done).toBe(true);
    expect(turn.render()).toBe("Hello from the scripted model.");
    // The session had a title, so opencode made no title call: every request was an agent turn.
    expect(llm.requests.filter((r) => r.kind === "auxiliary")).toEqual([]);
    expect(llm.agentRequests.at(-1)?.messages.at(-1)).toMatchObject({ role: "user", content: "say hello" });
  });

  it("asks permission for bash; a reject with a message reaches the model and the command does not run", async () => {
    llm.reply.toolCall("bash", { command: "touch rejected-ran.txt", description: "make a file" }, { id: "call_reject" });
    llm.on(match.toolResultIncludes("use the staging copy"), plan.text("Understood, I will not."), { once: true });
    const sessionID = await createSession(oc.client, { directory: oc.directory, title: "reject turn" });
    await sendPrompt(oc.client, { directory: oc.directory, sessionID, text: "make a file" });

    const asked = await rec.waitFor(sessionID, "permission.asked");
    expect(asked.properties).toMatchObject({ permission: "bash", metadata: { command: "touch rejected-ran.txt" }, tool: { callID: "call_reject" } });
    expect((await pendingPermissions(oc.client, { directory: oc.directory, sessionID })).map((p) => p.id)).toEqual([asked.properties.id]);
    expect(rec.render(sessionID).render()).toContain("🔧 bash: make a file — waiting for approval");

    expect(await replyPermission(oc.client, { directory: oc.directory, requestID: asked.properties.id, reply: "reject", message: "not now, use the staging copy" })).toBe(true);
    await rec.waitFor(sessionID, "session.idle");

    const result = llm.toolResults().find((t) => t.toolCallId === "call_reject");
    expect(result?.content).toContain("not now, use the staging copy");
    expect(existsSync(join(oc.directory, "rejected-ran.txt"))).toBe(false);
    const text = rec.render(sessionID).render();
    expect(text).toMatch(/🔧 bash: make a file — failed: /);
    expect(text).toContain("Understood, I will not.");
    // A second reply to the same request is refused, not silently accepted.
    expect(await replyPermission(oc.client, { directory: oc.directory, requestID: asked.properties.id, reply: "once" })).toBe(false);
  });

  it("runs the command after `once`, the output reaches the model, and the bot's secrets are not in its environment", async () => {
    const command = "printf 'ran %s\\n' $((6*7)) > ran.txt; cat ran.txt; env";
    llm.reply.toolCall("bash", { command, description: "run it" }, { id: "call_once" });
    llm.on(match.toolResultIncludes("ran 42"), plan.text("It printed ran 42."), { once: true });
    const sessionID = await createSession(oc.client, { directory: oc.directory, title: "once turn" });
    await sendPrompt(oc.client, { directory: oc.directory, sessionID, text: "run it" });

    const asked = await rec.waitFor(sessionID, "permission.asked");
    expect(asked.properties.metadata.command).toBe(command);
    await replyPermission(oc.client, { directory: oc.directory, requestID: asked.properties.id, reply: "once" });
    await rec.waitFor(sessionID, "session.idle");

    expect(readFileSync(join(oc.directory, "ran.txt"), "utf8")).toBe("ran 42\n");
    const output = llm.toolResults().find((t) => t.toolCallId === "call_once")?.content ?? "";
    expect(output).toContain("ran 42");
    expect(output).toContain("OPENCODE=1"); // proves `env` ran and its output is complete enough to judge
    expect(output).not.toContain(botSecret);
    const text = rec.render(sessionID).render();
    expect(text).toBe("🔧 bash: run it — done\n\nIt printed ran 42.");
  });

  it("serves an OpenAPI document listing the endpoints and events PocketCoder depends on, behind basic auth", async () => {
    expect((await fetch(`${oc.proc.url}/global/health`)).status).toBe(401);
    const res = await fetch(`${oc.proc.url}/doc`, { headers: { Authorization: oc.proc.authorization } });
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
    const needed: [string, string][] = [
      ["/global/health", "get"],
      ["/global/event", "get"],
      ["/session", "post"],
      ["/session/{sessionID}/prompt_async", "post"],
      ["/session/{sessionID}/abort", "post"],
      ["/permission", "get"],
      ["/permission/{requestID}/reply", "post"],
    ];
    for (const [path, method] of needed) expect(doc.paths[path]?.[method], `${method.toUpperCase()} ${path}`).toBeDefined();
    const text = JSON.stringify(doc);
    for (const type of agentEventTypes) expect(text, type).toContain(`"${type}"`);
  });

  it("stopping a session blocked on a permission aborts the turn and leaves nothing pending", async () => {
    llm.reply.toolCall("bash", { command: "touch stopped-ran.txt", description: "touch a file" }, { id: "call_stop" });
    const sessionID = await createSession(oc.client, { directory: oc.directory, title: "stop turn" });
    await sendPrompt(oc.client, { directory: oc.directory, sessionID, text: "touch it" });
    const asked = await rec.waitFor(sessionID, "permission.asked");
    const modelCalls = llm.requests.length;

    expect(await stopSession(oc.client, { directory: oc.directory, sessionID })).toEqual([asked.properties.id]);
    await rec.waitFor(sessionID, "session.idle");
    expect(await pendingPermissions(oc.client, { directory: oc.directory, sessionID })).toEqual([]);
    expect(existsSync(join(oc.directory, "stopped-ran.txt"))).toBe(false);
    expect(llm.requests.length).toBe(modelCalls); // the model was not asked to go on
    expect(rec.render(sessionID).render()).toContain("⏹ Stopped.");
  });

  // Last: it kills the server the other tests share.
  it("restarts opencode after it is killed, and a new prompt works over the reconnected event stream", async () => {
    const before = rec.connections;
    const oldPid = oc.proc.pid!;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => oc.proc.once("exit", r));
    const restarted = new Promise<{ url: string }>((r) => oc.proc.once("restarted", r));
    process.kill(oldPid, "SIGKILL");
    expect(await exited).toEqual({ code: null, signal: "SIGKILL" });
    await restarted;
    expect(oc.proc.pid).not.toBe(oldPid);
    // Events sent before the stream reconnects are gone (the bot catches up on reconnection); the
    // stream backs off while the server is down, so wait for it rather than race it.
    await rec.reconnectedAfter(before);

    llm.reply.text("Back again.");
    const sessionID = await createSession(oc.client, { directory: oc.directory, title: "after restart" });
    await sendPrompt(oc.client, { directory: oc.directory, sessionID, text: "are you there?" });
    await rec.waitFor(sessionID, "session.idle");
    expect(rec.render(sessionID).render()).toBe("Back again.");
  });
});

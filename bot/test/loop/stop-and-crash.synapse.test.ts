// Issue 5, test 7 (`!stop` during a run aborts it and leaves nothing pending) and the agent's death
// (the bot says so, cancels what waited for approval, restarts it, and the room carries on), plus
// the bot's own crash (it adopts the agent server it left running). Real Synapse, bot, opencode,
// runner and tmux; only the model is scripted.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { MatrixEvent } from "matrix-js-sdk";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestUser, messageBody, testHomeserver, type TestUser } from "@pocketcoder/testkit/matrix-user";
import { match, plan } from "@pocketcoder/testkit/scripted-llm";
import { startStack, type BotWatch, type Stack } from "@pocketcoder/testkit/stack";

const policy = `
version: 1
defaults:
  decision: ask
  quorum: 1
  approvers: { minPowerLevel: 50 }
  selfApproval: true
  expires: 15m
  risk: medium
rules:
  - id: waiting-is-fine
    decision: allow
    risk: low
    command: ["sleep *"]
`;

const long = 90_000;
const rel = (e: MatrixEvent) => e.getContent()["m.relates_to"] as { rel_type?: string; event_id?: string; "m.in_reply_to"?: { event_id?: string } } | undefined;
const isEditOf = (e: MatrixEvent, id: string) => rel(e)?.rel_type === "m.replace" && rel(e)?.event_id === id;

describe("stopping the agent, and the agent or the bot dying", () => {
  let stack: Stack;
  let alice: TestUser;
  let roomId: string;

  const binding = () => stack.binding(roomId);
  const agentPending = () => stack.agentPending(roomId);

  /** The bot's reply to `eventId` (the turn's one message); then a wait for an edit of it matching `text`. */
  async function turnReply(watch: BotWatch, eventId: string) {
    const reply = await watch.waitFor((_, e) => rel(e)?.["m.in_reply_to"]?.event_id === eventId && rel(e)?.rel_type !== "m.replace", long);
    return (text: RegExp) => watch.waitFor((body, e) => isEditOf(e, reply.getId()!) && text.test(body), long);
  }

  async function approvalPrompt(watch: BotWatch, needle: string): Promise<string> {
    const ev = await watch.waitFor((body, e) => rel(e)?.rel_type !== "m.replace" && body.includes("Approval needed") && body.includes(needle), long);
    return /code `([A-Z0-9]{6})`/.exec(messageBody(ev)!)![1]!;
  }

  beforeAll(async () => {
    const hs = testHomeserver();
    alice = await createTestUser(hs, "alice");
    stack = await startStack(hs, { policy });
    // After a tool result (or a refusal) the model just says so; tests plan their own first steps.
    stack.llm.on(match.afterToolResult(), plan.text("Noted."));
    roomId = await stack.roomWithBot(alice, { name: "Stoppable" });
  }, 4 * long);

  afterAll(async () => {
    alice?.stop();
    await stack?.stop();
  });

  it("test 7: !stop during a running command aborts it and leaves nothing pending", async () => {
    stack.llm.on(match.lastUserIncludes("RUN-LONG"), plan.toolCall("bash", { command: "sleep 300", description: "wait a long time" }), { once: true });
    const watch = stack.watch(alice, roomId);
    const asked = await alice.sendText(roomId, "RUN-LONG: wait for me");
    const edited = await turnReply(watch, asked);
    const { sessionId } = binding();
    // Running in the sandbox's tmux pane.
    await vi.waitFor(async () => expect((await stack.runner.client.sessions()).find((s) => s.session === sessionId)?.running ?? null).not.toBeNull(), { timeout: long, interval: 200 });
    const modelCalls = stack.llm.agentRequests.length;

    await alice.sendText(roomId, "!stop");
    const answer = await watch.waitFor(/^⏹ Stopped the agent\./, long);
    expect(messageBody(answer)).toContain("The running command was cancelled.");
    await edited(/⏹ Stopped\./);

    await vi.waitFor(async () => expect((await stack.runner.client.sessions()).find((s) => s.session === sessionId)?.running ?? null).toBeNull(), { timeout: long, interval: 200 });
    expect(await agentPending()).toEqual([]);
    expect(stack.withLedger((l) => l.listPending())).toEqual([]);
    // The sleep was allowed and dispatched, and it ended without finishing its work.
    const state = () => (stack.withLedger((l) => l.db.prepare("SELECT state FROM requests JOIN request_states ON request_id = id WHERE input = 'sleep 300'").get()) as { state: string } | undefined)?.state;
    await vi.waitFor(() => expect(["failed", "timed_out", "unknown", "cancelled"]).toContain(state()), { timeout: long, interval: 200 });
    // The aborted turn did not go on to ask the model again.
    expect(stack.llm.agentRequests.length).toBe(modelCalls);
    await stack.agentIdle(roomId);
  }, 2 * long);

  it("test 7: !stop while a command waits for approval cancels the request; nothing runs", async () => {
    stack.llm.on(match.lastUserIncludes("ASK-THEN-STOP"), plan.toolCall("bash", { command: "touch stopped-before-approval", description: "make a file" }), { once: true });
    const watch = stack.watch(alice, roomId);
    const asked = await alice.sendText(roomId, "ASK-THEN-STOP: make a file");
    const edited = await turnReply(watch, asked);
    const code = await approvalPrompt(watch, "touch stopped-before-approval");
    expect(stack.withLedger((l) => l.byCode(code)?.state)).toBe("pending");
    expect(await agentPending()).toHaveLength(1);

    await alice.sendText(roomId, "!stop");
    await watch.waitFor(/^⏹ Stopped the agent\. 1 request waiting for approval cancelled\./, long);
    await edited(/⏹ Stopped\./);
    expect(stack.withLedger((l) => l.byCode(code)?.state)).toBe("cancelled");
    expect(await agentPending()).toEqual([]);
    expect(stack.withLedger((l) => l.listPending())).toEqual([]);
    // A ✅ now changes nothing.
    expect(existsSync(join(binding().directory, "stopped-before-approval"))).toBe(false);
    await stack.agentIdle(roomId);
  }, 2 * long);

  it("when the agent dies: says so, cancels what waited for approval, restarts it, and the room carries on", async () => {
    stack.llm.on(match.lastUserIncludes("ASK-THEN-CRASH"), plan.toolCall("bash", { command: "touch never-made", description: "make a file" }), { once: true });
    const watch = stack.watch(alice, roomId);
    const asked = await alice.sendText(roomId, "ASK-THEN-CRASH: make a file");
    const edited = await turnReply(watch, asked);
    const code = await approvalPrompt(watch, "touch never-made");
    const firstPid = stack.opencodePid();

    process.kill(firstPid, "SIGKILL");
    await watch.waitFor(/^⚠ The agent stopped unexpectedly and is being restarted\. The request waiting for approval was cancelled\./, long);
    await edited(/Interrupted: the agent stopped unexpectedly/);
    expect(stack.withLedger((l) => l.byCode(code)?.state)).toBe("cancelled");
    await watch.waitFor(/^✅ The agent is running again/, long);
    expect(stack.opencodePid()).not.toBe(firstPid);

    // Same session, new server: the conversation goes on.
    const { sessionId } = binding();
    stack.llm.on(match.lastUserIncludes("AFTER-CRASH"), plan.text("Still here."), { once: true });
    const next = await alice.sendText(roomId, "AFTER-CRASH: are you there?");
    await (await turnReply(watch, next))(/^Still here\.$/);
    expect(binding().sessionId).toBe(sessionId);
    expect(existsSync(join(binding().directory, "never-made"))).toBe(false);
    await stack.agentIdle(roomId);
  }, 2 * long);

  it("when the bot is killed, the restarted bot adopts the agent server and the room carries on", async () => {
    const agentPid = stack.opencodePid();
    await stack.bot.kill();
    await stack.restartBot();
    expect(stack.bot.log()).toContain("adopted the agent server of the previous run");
    expect(stack.opencodePid()).toBe(agentPid);

    stack.llm.on(match.lastUserIncludes("AFTER-BOT-CRASH"), plan.text("Adopted and answering."), { once: true });
    const watch = stack.watch(alice, roomId);
    const next = await alice.sendText(roomId, "AFTER-BOT-CRASH: still there?");
    await (await turnReply(watch, next))(/^Adopted and answering\.$/);
  }, 2 * long);
});

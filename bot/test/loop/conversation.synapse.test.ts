// Issue 5, test 1 and the conversation around it, end to end: real Synapse, the bot process, real
// opencode and runner; only the model is scripted. A text answer streams into one reply message that
// ends complete; a message sent while the agent works joins the running turn; threads keep the
// answer in the thread; model errors are shown plainly; `!new` starts over; the binding survives.
import type { MatrixEvent } from "matrix-js-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestUser, messageBody, testHomeserver, type TestUser } from "@pocketcoder/testkit/matrix-user";
import { contentText } from "@pocketcoder/testkit/scripted-llm";
import { startStack, type Stack } from "@pocketcoder/testkit/stack";

const isEditOf = (event: MatrixEvent, id: string) => event.getContent()["m.relates_to"]?.rel_type === "m.replace" && event.getContent()["m.relates_to"]?.event_id === id;

describe("the conversation loop", () => {
  let stack: Stack;
  let alice: TestUser;
  let roomId: string;

  beforeAll(async () => {
    const hs = testHomeserver();
    alice = await createTestUser(hs, "alice");
    stack = await startStack(hs);
    roomId = await stack.roomWithBot(alice, { name: "Demo Project" });
  });

  afterAll(async () => {
    alice?.stop();
    await stack?.stop();
  });

  it("streams a text answer into one reply message that ends complete", async () => {
    const chunks = ["The answer ", "comes in ", "several ", "pieces ", "over a ", "few seconds, ", "and ends ", "here."];
    stack.llm.reply.textChunks(chunks, { delayMs: 400 });
    const asked = await alice.sendText(roomId, "hello agent");

    const reply = await stack.waitForBot(alice, roomId, (_, e) => e.getContent()["m.relates_to"]?.["m.in_reply_to"]?.event_id === asked);
    const replyId = reply.getId()!;
    const bodies: string[] = [];
    await stack.waitForBot(alice, roomId, (body, e) => {
      if (!isEditOf(e, replyId)) return false;
      bodies.push(body);
      return body === chunks.join("");
    });
    // Streamed: some edit showed a proper beginning of the answer before the complete one.
    const full = chunks.join("");
    expect(bodies.some((b) => b.length > 0 && b.length < full.length && full.startsWith(b.trim()) && b.trim() !== "")).toBe(true);
    expect(bodies.at(-1)).toBe(full);
    expect(reply.isEncrypted()).toBe(true);
    await stack.agentIdle(roomId);
    // The prompt reached the model as the person wrote it.
    expect(contentText(stack.llm.agentRequests.at(-1)!.messages.at(-1)!.content)).toContain("hello agent");
  });

  it("binds the room to a project folder named after the room and a session, in the ledger", () => {
    const binding = stack.binding(roomId);
    expect(binding.project).toBe("demo-project");
    expect(binding.directory).toBe(`${stack.workspace}/demo-project`);
    expect(binding.sessionId).toMatch(/^ses_/);
    const audited = stack.withLedger((l) => [...l.entries()].filter((e) => e.event === "room.bind"));
    expect(audited.map((e) => (JSON.parse(e.body) as { session: string }).session)).toContain(binding.sessionId);
  });

  it("lets a message sent while the agent works join the running turn", async () => {
    stack.llm.reply.textChunks(["First part, ", "slowly ", "written, ", "still going."], { delayMs: 700 });
    stack.llm.reply.text("Second part, after your addition.");
    const before = stack.llm.agentRequests.length;
    const first = await alice.sendText(roomId, "start something long");
    const reply = await stack.waitForBot(alice, roomId, (_, e) => e.getContent()["m.relates_to"]?.["m.in_reply_to"]?.event_id === first);
    await stack.waitForBot(alice, roomId, (body, e) => isEditOf(e, reply.getId()!) && body.includes("First part"));
    await alice.sendText(roomId, "and also this");

    const done = await stack.waitForBot(alice, roomId, (body, e) => isEditOf(e, reply.getId()!) && body.includes("Second part"));
    expect(messageBody(done)).toContain("First part, slowly written, still going.");
    // The addition reached the model within the same turn: the model was called again with it.
    const later = stack.llm.agentRequests.slice(before);
    expect(later.length).toBe(2);
    expect(later[1]!.messages.some((m) => m.role === "user" && contentText(m.content).includes("and also this"))).toBe(true);
    await stack.agentIdle(roomId);
  });

  it("answers a message in a thread inside that thread", async () => {
    stack.llm.reply.text("Answer to the root.");
    const root = await alice.sendText(roomId, "a message that will get a thread");
    const rootReply = await stack.waitForBot(alice, roomId, (_, e) => e.getContent()["m.relates_to"]?.["m.in_reply_to"]?.event_id === root);
    await stack.waitForBot(alice, roomId, (body, e) => isEditOf(e, rootReply.getId()!) && body === "Answer to the root.");
    await stack.agentIdle(roomId);

    stack.llm.reply.text("Answer in the thread.");
    await alice.replyInThread(roomId, root, "a question in the thread");
    const reply = await stack.waitForBot(alice, roomId, (_, e) => e.getContent()["m.relates_to"]?.rel_type === "m.thread" && e.getContent()["m.relates_to"]?.event_id === root);
    await stack.waitForBot(alice, roomId, (body, e) => isEditOf(e, reply.getId()!) && body === "Answer in the thread.");
    await stack.agentIdle(roomId);
  });

  it("shows a model error plainly in the reply", async () => {
    stack.llm.reply.error(400, "the scripted model refuses this one");
    await alice.sendText(roomId, "this will fail");
    const failed = await stack.waitForBot(alice, roomId, (body) => body.includes("⚠"));
    expect(messageBody(failed)).toContain("the scripted model refuses this one");
    await stack.agentIdle(roomId);
  });

  it("starts a fresh session with !new: the model no longer sees the earlier conversation", async () => {
    const before = stack.binding(roomId).sessionId;
    await alice.sendText(roomId, "!new");
    await stack.waitForBot(alice, roomId, /New session in project `demo-project`/);
    const after = stack.binding(roomId).sessionId;
    expect(after).not.toBe(before);

    stack.llm.reply.text("Fresh start.");
    await alice.sendText(roomId, "who am I talking to?");
    await stack.waitForBot(alice, roomId, (body) => body === "Fresh start.");
    const last = stack.llm.agentRequests.at(-1)!;
    const said = last.messages.filter((m) => m.role === "user").map((m) => contentText(m.content));
    expect(said.some((t) => t.includes("who am I talking to?"))).toBe(true);
    expect(said.some((t) => t.includes("hello agent"))).toBe(false);
  });
});

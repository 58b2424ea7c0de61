// Unit tests of the approval engine's main flow: allow, deny, ask → ✅ → grant → once → result,
// ❌ with a reason, expiry, edits, cancellation. Real SQLite ledger and real policy; Matrix, the
// agent and the runner are in-memory recording ports (see engine-harness.ts).
import { createHash } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import {
  BOT,
  DIR,
  OWNER,
  ROOM,
  bashPermission,
  context,
  editPermission,
  finished,
  harness,
  react,
  runCommand,
  started,
  toolPart,
} from "./engine-harness.ts";

const sha = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

describe("approval engine: decisions", () => {
  it("a command the policy allows is granted (and started) and answered once, without a prompt", async () => {
    const h = await harness();
    await h.engine.start();
    const p = bashPermission("ls -la");
    await h.engine.onPermissionAsked(p, context());
    expect(h.runner.grants).toEqual([
      { session: "ses_1", callId: p.tool!.callID, sha256: sha("ls -la"), cwd: DIR, expiresAt: expect.any(String) as string, start: { command: "ls -la" } },
    ]);
    expect(h.agent.to(p.id)).toEqual([{ reply: "once" }]);
    expect(h.messenger.prompts()).toHaveLength(0);
    const req = h.ledger.byPermission("ses_1", p.id)!;
    expect(req.state).toBe("dispatching");
    expect(req.rule).toBe("read-only");
    h.runner.emit(started({ session: "ses_1", callId: p.tool!.callID }));
    h.runner.emit(finished({ session: "ses_1", callId: p.tool!.callID }));
    await vi.waitFor(() => expect(h.ledger.getRequest(req.id)!.state).toBe("succeeded"));
    expect(h.ledger.getExecution(req.id)).toMatchObject({ exitCode: 0, durationMs: 1234, outputBytes: 6 });
  });

  it("a command too long for a prompt is refused at once with the reason, not left waiting unseen", async () => {
    const h = await harness();
    const p = bashPermission(`make docs ARGS='${"x".repeat(30_000)}'`);
    await h.engine.onPermissionAsked(p, context());
    const [reply] = h.agent.to(p.id);
    expect(reply!.reply === "reject" && reply!.message).toMatch(/^Rejected: the bash call is 30017 characters long, too long to review in chat\. Nothing ran\./);
    expect(h.messenger.prompts()).toHaveLength(0);
    expect(h.ledger.byPermission("ses_1", p.id)).toBeNull();
  });

  it("the grant names the cwd opencode resolves from the call's workdir", async () => {
    const h = await harness();
    const p = bashPermission("ls");
    const part = toolPart(p, { status: "running", input: { command: "ls", workdir: "sub/dir" } });
    await h.engine.onPermissionAsked(p, context({ toolPart: part }));
    expect(h.runner.grants[0]!.cwd).toBe(`${DIR}/sub/dir`);
  });

  it("a command the policy denies is rejected with the policy's reason and never granted", async () => {
    const h = await harness();
    const p = bashPermission("shutdown -h now");
    await h.engine.onPermissionAsked(p, context());
    const [reply] = h.agent.to(p.id);
    expect(reply).toMatchObject({ reply: "reject" });
    expect(reply!.reply === "reject" && reply!.message).toMatch(/Never shut the machine down/);
    expect(h.runner.grants).toHaveLength(0);
    expect(h.ledger.byPermission("ses_1", p.id)!.state).toBe("denied");
  });

  it("the same permission delivered twice is handled once", async () => {
    const h = await harness();
    const p = bashPermission("make build");
    await h.engine.onPermissionAsked(p, context());
    await h.engine.onPermissionAsked(p, context());
    expect(h.messenger.prompts()).toHaveLength(1);
  });
});

describe("approval engine: asking", () => {
  it("posts the prompt with the command, code, approvers and pre-added reactions", async () => {
    const h = await harness();
    const p = bashPermission("make build");
    await h.engine.onPermissionAsked(p, context());
    const req = h.ledger.byPermission("ses_1", p.id)!;
    const [prompt] = h.messenger.prompts();
    expect(prompt!.markdown).toContain(`code \`${req.code}\``);
    expect(prompt!.markdown).toContain("```sh\nmake build\n```");
    expect(prompt!.markdown).toContain(`project \`app\`, cwd \`${DIR}\``);
    expect(prompt!.markdown).toMatch(/Expires at/);
    // Mentions the eligible approvers (power level ≥ 50), never the bot or people below the level.
    expect(prompt!.opts.mentions?.sort()).toEqual(["@alice:hs", "@bob:hs", OWNER].sort());
    expect(req.promptEventId).toBe(prompt!.eventId);
    const keys = h.messenger.sent.filter((s) => s.kind === "react" && s.target === prompt!.eventId).map((s) => s.kind === "react" && s.key);
    expect(keys).toEqual(["✅", "❌", "🔁"]);
    expect(h.agent.replies).toHaveLength(0);
    expect(h.runner.grants).toHaveLength(0);
  });

  it("✅ grants before answering once, edits the prompt with who approved, and posts the result in the thread", async () => {
    const h = await harness();
    await h.engine.start();
    const p = bashPermission("make build");
    await h.engine.onPermissionAsked(p, context());
    const prompt = h.messenger.prompts()[0]!.eventId;
    const order: string[] = [];
    const grant = h.runner.grant.bind(h.runner);
    h.runner.grant = async (g) => (order.push("grant"), grant(g));
    const reply = h.agent.reply.bind(h.agent);
    h.agent.reply = async (t, r) => (order.push(`reply:${r.reply}`), reply(t, r));
    await react(h, prompt, "@alice:hs").done;
    expect(order).toEqual(["grant", "reply:once"]);
    expect(h.runner.grants[0]).toMatchObject({ sha256: sha("make build"), cwd: DIR, callId: p.tool!.callID });
    expect(h.messenger.latest(prompt)).toMatch(/Approved by @alice:hs/);
    const call = { session: "ses_1", callId: p.tool!.callID };
    h.runner.emit(started(call));
    await vi.waitFor(() => expect(h.messenger.latest(prompt)).toMatch(/Running since/));
    h.runner.emit(finished(call, { exitCode: 2, head: "make: *** error\n" }));
    await vi.waitFor(() => expect(h.messenger.latest(prompt)).toMatch(/Failed: exit 2/));
    const [result] = h.messenger.thread(prompt);
    expect(result!.markdown).toMatch(/exit 2/);
    expect(result!.markdown).toMatch(/1\.2 s/);
    expect(result!.markdown).toContain("make: *** error");
    expect(h.ledger.byPermission("ses_1", p.id)!.state).toBe("failed");
  });

  it("a long output is posted as head and tail, with the whole log attached", async () => {
    const h = await harness();
    await h.engine.start();
    const p = bashPermission("make test");
    await h.engine.onPermissionAsked(p, context());
    const prompt = h.messenger.prompts()[0]!.eventId;
    await react(h, prompt, "@bob:hs").done;
    h.runner.logs.set("0123456789abcdef", Buffer.from("the whole log"));
    h.runner.emit(finished({ session: "ses_1", callId: p.tool!.callID }, { truncated: true, head: "first lines\n", tail: "last lines\n", omittedBytes: 99999, outputBytes: 100020 }));
    await vi.waitFor(() => expect(h.messenger.sent.some((s) => s.kind === "upload")).toBe(true));
    const text = h.messenger.thread(prompt)[0]!.markdown;
    expect(text).toMatch(/first lines\n\[… 99999 bytes omitted …\]\nlast lines/);
    const upload = h.messenger.sent.find((s) => s.kind === "upload")!;
    expect(upload.kind === "upload" && Buffer.from(upload.bytes).toString()).toBe("the whole log");
    expect(upload.kind === "upload" && upload.threadRoot).toBe(prompt);
  });

  it("❌ with !deny rejects with the reason for the agent; a later ✅ changes nothing and the clicker is told", async () => {
    const h = await harness();
    const p = bashPermission("make clean");
    await h.engine.onPermissionAsked(p, context());
    const req = h.ledger.byPermission("ses_1", p.id)!;
    const answer = await runCommand(h, "deny", `${req.code.toLowerCase()} wipes the cache we need`, "@alice:hs");
    expect(answer).toMatch(/Denied/);
    const [reply] = h.agent.to(p.id);
    expect(reply!.reply).toBe("reject");
    expect(reply!.reply === "reject" && reply!.message).toMatch(/rejected by @alice:hs.*wipes the cache we need/s);
    const prompt = req.promptEventId!;
    expect(h.messenger.latest(prompt)).toMatch(/Denied by @alice:hs at .*: wipes the cache we need/);
    await react(h, prompt, "@bob:hs").done;
    expect(h.runner.grants).toHaveLength(0);
    expect(h.messenger.thread(prompt).at(-1)!.markdown).toMatch(/@bob:hs: your ✅ came after this request was denied; it changed nothing/);
    expect(h.messenger.thread(prompt).at(-1)!.opts.mentions).toEqual(["@bob:hs"]);
    const late = await runCommand(h, "approve", req.code, "@bob:hs");
    expect(late).toMatch(/Too late: `.*` is already denied/);
  });

  it("!deny with a reason too long for the ledger, or with a lone surrogate, still denies", async () => {
    const h = await harness();
    const p = bashPermission("make clean");
    await h.engine.onPermissionAsked(p, context());
    const req = h.ledger.byPermission("ses_1", p.id)!;
    expect(await runCommand(h, "deny", `${req.code} ${"no ".repeat(3000)}\uD800`, "@alice:hs")).toMatch(/Denied/);
    expect(h.ledger.getRequest(req.id)!.state).toBe("denied");
    const [vote] = h.ledger.listVotes(req.id);
    expect(vote!.reason).toHaveLength(4096);
    expect(vote!.reason!.endsWith("no …")).toBe(true);

    const q = bashPermission("make clean");
    await h.engine.onPermissionAsked(q, context());
    const other = h.ledger.byPermission("ses_1", q.id)!;
    await runCommand(h, "deny", `${other.code} bad \uDC00 idea`, "@alice:hs");
    expect(h.ledger.listVotes(other.id)[0]!.reason).toBe("bad \uFFFD idea");
  });

  it("expires on the bot's clock: rejected as expired, never granted, prompt edited", async () => {
    const h = await harness();
    await h.engine.start();
    const p = bashPermission("make deploy-docs");
    await h.engine.onPermissionAsked(p, context());
    const req = h.ledger.byPermission("ses_1", p.id)!;
    h.clock.now += 14 * 60_000;
    await h.engine.sweepExpired();
    expect(h.ledger.getRequest(req.id)!.state).toBe("pending");
    h.clock.now += 60_000;
    await h.engine.sweepExpired();
    expect(h.ledger.getRequest(req.id)!.state).toBe("expired");
    const [reply] = h.agent.to(p.id);
    expect(reply!.reply === "reject" && reply!.message).toMatch(/^Expired: nobody approved the command within 15 min/);
    expect(h.messenger.latest(req.promptEventId!)).toMatch(/Expired at/);
    // A vote after expiry (even before the sweep would have run) changes nothing.
    await react(h, req.promptEventId!, "@alice:hs").done;
    expect(h.runner.grants).toHaveLength(0);
  });

  it("a vote that arrives after expiry but before the sweep does not approve", async () => {
    const h = await harness();
    const p = bashPermission("make x");
    await h.engine.onPermissionAsked(p, context());
    const req = h.ledger.byPermission("ses_1", p.id)!;
    h.clock.now += 15 * 60_000;
    await react(h, req.promptEventId!, "@alice:hs").done;
    expect(h.runner.grants).toHaveLength(0);
    expect(h.messenger.thread(req.promptEventId!).at(-1)!.markdown).toMatch(/came after this request expired/);
  });

  it("a long diff is previewed in the prompt and attached whole in its thread", async () => {
    const h = await harness();
    const body = Array.from({ length: 100 }, (_, i) => `+line ${i}`).join("\n");
    const diff = `Index: /workspace/app/src/b.ts\n===\n--- /workspace/app/src/b.ts\n+++ /workspace/app/src/b.ts\n@@ -0,0 +1,100 @@\n${body}\n`;
    const p = editPermission("src/b.ts", diff);
    await h.engine.onPermissionAsked(p, context());
    const req = h.ledger.byPermission("ses_1", p.id)!;
    const prompt = h.messenger.prompts()[0]!;
    expect(prompt.markdown).toContain("+line 54");
    expect(prompt.markdown).not.toContain("+line 55");
    expect(prompt.markdown).toContain(`… 46 more lines: the whole diff is in the thread as \`${req.code}.diff\`; read it before you approve.`);
    const upload = h.messenger.sent.find((s) => s.kind === "upload")!;
    expect(upload).toMatchObject({ name: `${req.code}.diff`, threadRoot: prompt.eventId });
    expect(upload.kind === "upload" && Buffer.from(upload.bytes).toString()).toBe(diff);
  });

  it("an edit shows file and diff, is answered once only after approval, and completes from the tool part", async () => {
    const h = await harness();
    const diff = "Index: /workspace/app/src/a.ts\n===\n--- /workspace/app/src/a.ts\n+++ /workspace/app/src/a.ts\n@@ -1 +1 @@\n-old\n+new\n";
    const p = editPermission("src/a.ts", diff);
    await h.engine.onPermissionAsked(p, context());
    const req = h.ledger.byPermission("ses_1", p.id)!;
    expect(req).toMatchObject({ tool: "edit", inputKind: "diff", input: diff, rule: "edits" });
    const prompt = h.messenger.prompts()[0]!;
    expect(prompt.markdown).toContain("file `/workspace/app/src/a.ts`");
    expect(prompt.markdown).toContain("```diff\n");
    expect(prompt.markdown).toContain("+new");
    expect(prompt.markdown).not.toContain("whole diff");
    expect(h.messenger.sent.filter((s) => s.kind === "upload")).toEqual([]);
    expect(h.agent.replies).toHaveLength(0);
    await react(h, prompt.eventId, "@alice:hs").done;
    expect(h.agent.to(p.id)).toEqual([{ reply: "once" }]);
    expect(h.runner.grants).toHaveLength(0);
    expect(h.ledger.getRequest(req.id)!.state).toBe("running");
    h.engine.onToolPart(toolPart(p, { status: "completed", input: {}, output: "Edit applied", title: "src/a.ts", metadata: {} }));
    expect(h.ledger.getRequest(req.id)!.state).toBe("succeeded");
    await vi.waitFor(() => expect(h.messenger.latest(prompt.eventId)).toMatch(/Done: applied/));
  });

  it("rejectPendingForSession cancels the session's pending requests and tells the agent", async () => {
    const h = await harness();
    const a = bashPermission("make a");
    const b = bashPermission("make b", { session: "ses_2" });
    await h.engine.onPermissionAsked(a, context());
    await h.engine.onPermissionAsked(b, context());
    expect(await h.engine.rejectPendingForSession("ses_1", "stopped with !stop", OWNER)).toBe(1);
    const ra = h.ledger.byPermission("ses_1", a.id)!;
    expect(ra.state).toBe("cancelled");
    expect(h.ledger.byPermission("ses_2", b.id)!.state).toBe("pending");
    expect(h.agent.to(a.id)[0]).toMatchObject({ reply: "reject" });
    expect(h.messenger.latest(ra.promptEventId!)).toMatch(/Cancelled by @owner:hs .*stopped with !stop/);
    await react(h, ra.promptEventId!, "@alice:hs").done;
    expect(h.runner.grants).toHaveLength(0);
  });

  it("when opencode no longer knows the request, the command the grant started is stopped and the room is told", async () => {
    const h = await harness();
    h.agent.knows = false;
    const p = bashPermission("make gone");
    await h.engine.onPermissionAsked(p, context());
    const req = h.ledger.byPermission("ses_1", p.id)!;
    await react(h, req.promptEventId!, "@alice:hs").done;
    expect(h.runner.grants[0]!.start).toEqual({ command: "make gone" });
    expect(h.runner.cancels).toEqual([{ session: "ses_1", callId: p.tool!.callID }]);
    expect(h.messenger.thread(req.promptEventId!).at(-1)!.markdown).toMatch(/was stopped: opencode no longer waits/);
  });

  it("when the runner refuses the grant, the agent is told and the request ends without a run", async () => {
    const h = await harness();
    h.runner.failGrants = true;
    const p = bashPermission("make nope");
    await h.engine.onPermissionAsked(p, context());
    const req = h.ledger.byPermission("ses_1", p.id)!;
    await react(h, req.promptEventId!, "@alice:hs").done;
    expect(h.agent.to(p.id)[0]).toMatchObject({ reply: "reject" });
    expect(h.ledger.getRequest(req.id)!.state).toBe("failed");
  });

  it("the runner refusing the exec ends the request with the refusal in the thread", async () => {
    const h = await harness();
    await h.engine.start();
    const p = bashPermission("make r");
    await h.engine.onPermissionAsked(p, context());
    const req = h.ledger.byPermission("ses_1", p.id)!;
    await react(h, req.promptEventId!, "@alice:hs").done;
    h.runner.emit({ type: "exec.refused", session: "ses_1", callId: p.tool!.callID, reason: "hash_mismatch", message: "the command differs", sha256: "b".repeat(64), cwd: DIR } as never);
    await vi.waitFor(() => expect(h.ledger.getRequest(req.id)!.state).toBe("failed"));
    expect(h.messenger.thread(req.promptEventId!).at(-1)!.markdown).toMatch(/sandbox refused it \(hash_mismatch\)/);
  });

  it("never mentions or counts the bot, and ignores other emoji", async () => {
    const h = await harness();
    const p = bashPermission("make y");
    await h.engine.onPermissionAsked(p, context());
    const req = h.ledger.byPermission("ses_1", p.id)!;
    await react(h, req.promptEventId!, BOT).done;
    await react(h, req.promptEventId!, "@alice:hs", "👍").done;
    expect(h.ledger.listVotes(req.id)).toHaveLength(0);
    await react(h, req.promptEventId!, "@alice:hs", "✅\uFE0F").done;
    expect(h.ledger.getRequest(req.id)!.state).toBe("dispatching");
    expect(ROOM).toBe(req.room);
  });
});

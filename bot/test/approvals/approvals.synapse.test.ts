// Issue 5, tests 2, 3, 4, 5, 6 and 8, end to end: real Synapse, the bot process, real opencode, the
// runner with tmux; only the model is scripted. Test users are matrix-js-sdk clients with Rust
// crypto. One stack for the file: a solo room (allow, ✅, ❌, an edit, a bot restart), a room whose
// request is left to expire, and a group room (quorum 2 without self-approval, a strict rule).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { MatrixEvent } from "matrix-js-sdk";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { ApprovalRequest, Ledger } from "../../src/ledger/ledger.ts";
import { createTestUser, messageBody, testHomeserver, type TestUser } from "@pocketcoder/testkit/matrix-user";
import { match, plan } from "@pocketcoder/testkit/scripted-llm";
import { startStack, type Stack } from "@pocketcoder/testkit/stack";

const policy = `
version: 1
defaults:
  decision: ask
  quorum: 1
  approvers: { minPowerLevel: 50 }
  selfApproval: true
  strict: false
  expires: 15m
  risk: medium
rules:
  - id: read-only
    decision: allow
    risk: low
    command: ["echo *", "ls", "ls *", "cat *"]
  - id: expires-fast
    decision: ask
    command: ["touch expire-*"]
    expires: 1m
  - id: four-eyes
    decision: ask
    risk: high
    command: ["touch group-*"]
    quorum: 2
    selfApproval: false
    approvers: { minPowerLevel: 50 }
  - id: strict-release
    decision: ask
    command: ["touch strict-*"]
    strict: true
  - id: edits
    decision: ask
    tool: edit
`;

const long = 180_000;
const rel = (e: MatrixEvent) => e.getContent()["m.relates_to"] as { rel_type?: string; event_id?: string } | undefined;
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const isEdit = (e: MatrixEvent) => rel(e)?.rel_type === "m.replace";
const isEditOf = (e: MatrixEvent, id: string) => isEdit(e) && rel(e)?.event_id === id;
const inThreadOf = (e: MatrixEvent, id: string) => rel(e)?.rel_type === "m.thread" && rel(e)?.event_id === id;

describe("approvals end to end", () => {
  let stack: Stack;
  let alice: TestUser, bob: TestUser, carol: TestUser, dave: TestUser, eve: TestUser, frank: TestUser;
  let solo: string, expiring: string, group: string;
  const codes: Record<string, string> = {};
  let expiringPrompt: { id: string; code: string };

  /** The model answers a message containing `token` with this tool call, and any tool result with "Noted.". */
  function planTool(token: string, tool: string, args: Record<string, unknown>) {
    stack.llm.on(match.lastUserIncludes(token), plan.toolCall(tool, args), { once: true });
  }
  const planBash = (token: string, command: string) => planTool(token, "bash", { command, description: token });

  async function promptFor(user: TestUser, roomId: string, needle: string): Promise<{ id: string; code: string; body: string; event: MatrixEvent }> {
    const event = await stack.waitForBot(user, roomId, (body, e) => !isEdit(e) && body.includes("Approval needed") && body.includes(needle), long);
    const body = messageBody(event)!;
    return { id: event.getId()!, code: /code `([A-Z0-9]{6})`/.exec(body)![1]!, body, event };
  }
  const promptEdit = (user: TestUser, roomId: string, promptId: string, text: RegExp) =>
    stack.waitForBot(user, roomId, (body, e) => isEditOf(e, promptId) && text.test(body), long);
  const threadNote = (user: TestUser, roomId: string, promptId: string, text: RegExp) =>
    stack.waitForBot(user, roomId, (body, e) => inThreadOf(e, promptId) && text.test(body), long);
  const request = (code: string) => stack.withLedger((l) => l.byCode(code));
  const ledger = <T>(fn: (l: Ledger) => T) => stack.withLedger(fn);
  async function stateOf(code: string, state: ApprovalRequest["state"]) {
    await vi.waitFor(() => expect(request(code)?.state).toBe(state), { timeout: long, interval: 250 });
  }
  async function toolResultIncludes(text: string) {
    await vi.waitFor(() => expect(stack.llm.toolResults().some((r) => r.content.includes(text))).toBe(true), { timeout: long, interval: 250 });
  }
  const project = (room: string, file: string) => join(stack.workspace, room, file);

  beforeAll(async () => {
    const hs = testHomeserver();
    [alice, bob, carol, dave, eve] = (await Promise.all(["alice", "bob", "carol", "dave", "eve"].map((n) => createTestUser(hs, n)))) as [TestUser, TestUser, TestUser, TestUser, TestUser];
    frank = await createTestUser(hs, "frank", { crossSign: false });
    stack = await startStack(hs, { policy });
    stack.llm.on(match.afterToolResult(), plan.text("Noted."));
    solo = await stack.roomWithBot(alice, { name: "Solo" });
    expiring = await stack.roomWithBot(alice, { name: "Expiring" });
    // Alice creates the room, so she ranks highest as its creator (room version 12).
    const users: Record<string, number> = { [bob.userId]: 50, [carol.userId]: 50, [eve.userId]: 50, [frank.userId]: 50 };
    group = await stack.roomWithBot(alice, { name: "Group", others: [bob, carol, dave, eve, frank], powerLevels: { users } });
    // Started first and left alone: its one-minute expiry runs out while the other tests go on.
    planBash("EXPIRE-TOKEN", "touch expire-me.txt");
    await alice.sendText(expiring, "EXPIRE-TOKEN: make a file");
    expiringPrompt = await promptFor(alice, expiring, "touch expire-me.txt");
  }, 300_000);

  afterAll(async () => {
    for (const u of [alice, bob, carol, dave, eve, frank]) u?.stop();
    await stack?.stop();
  });

  describe("test 2: bash", () => {
    it("a command the policy allows runs in tmux without a prompt", async () => {
      planBash("ALLOW-TOKEN", "echo allowed-run-output");
      await alice.sendText(solo, "ALLOW-TOKEN: say something");
      await toolResultIncludes("allowed-run-output");
      const req = ledger((l) => l.listByState("succeeded").find((r) => r.input === "echo allowed-run-output"));
      expect(req).toMatchObject({ rule: "read-only", tool: "bash" });
      expect(ledger((l) => l.getExecution(req!.id))).toMatchObject({ exitCode: 0 });
      expect(req!.promptEventId).toBeNull();
    }, long);

    it("a command that asks runs in tmux after ✅, with its result in the prompt's thread and the long log attached", async () => {
      planBash("APPROVE-TOKEN", "touch approved.txt && seq 1 30000");
      await alice.sendText(solo, "APPROVE-TOKEN: make a file");
      const prompt = await promptFor(alice, solo, "touch approved.txt && seq 1 30000");
      codes.approved = prompt.code;
      expect(prompt.body).toContain("project `solo`");
      expect(existsSync(project("solo", "approved.txt"))).toBe(false);
      await alice.react(solo, prompt.id, "✅");
      await promptEdit(alice, solo, prompt.id, new RegExp(`Approved by ${esc(alice.userId)}`));
      const result = messageBody(await threadNote(alice, solo, prompt.id, /\*\*Result\*\*/))!;
      expect(result).toMatch(/exit 0/);
      expect(result).toMatch(/^1\n2\n3\n/m);
      expect(result).toMatch(/\n29999\n30000\n```/);
      expect(result).toMatch(/bytes omitted/);
      const log = await stack.waitForBot(alice, solo, (_, e) => inThreadOf(e, prompt.id) && e.getContent().msgtype === "m.file", long);
      expect(log.getContent().body).toBe(`${prompt.code}-output.log`);
      expect(log.getContent().file?.url).toMatch(/^mxc:/); // encrypted attachment in an encrypted room
      expect(existsSync(project("solo", "approved.txt"))).toBe(true);
      await promptEdit(alice, solo, prompt.id, /Done: exit 0/);
      await stateOf(prompt.code, "succeeded");
      expect(ledger((l) => l.getExecution(request(prompt.code)!.id))).toMatchObject({ exitCode: 0, truncated: true });
      await toolResultIncludes("30000");
    }, long);

    it("after ❌ it does not run and the agent receives the reason", async () => {
      planBash("DENY-TOKEN", "touch denied.txt");
      await alice.sendText(solo, "DENY-TOKEN: make another file");
      const prompt = await promptFor(alice, solo, "touch denied.txt");
      codes.denied = prompt.code;
      await alice.react(solo, prompt.id, "❌");
      await promptEdit(alice, solo, prompt.id, new RegExp(`Denied by ${esc(alice.userId)}`));
      await toolResultIncludes(`rejected by ${alice.userId}`);
      expect(request(prompt.code)!.state).toBe("denied");
      expect(existsSync(project("solo", "denied.txt"))).toBe(false);
      expect(ledger((l) => l.getExecution(request(prompt.code)!.id))).toBeNull();
    }, long);
  });

  describe("test 3: edits", () => {
    it("an edit shows the file and its diff and is applied only after approval", async () => {
      const file = project("solo", "notes.md");
      planTool("EDIT-TOKEN", "write", { filePath: file, content: "hello from the agent\n" });
      await alice.sendText(solo, "EDIT-TOKEN: write notes");
      const prompt = await promptFor(alice, solo, "notes.md");
      codes.edit = prompt.code;
      expect(prompt.body).toMatch(/\*\*edit\*\*/);
      expect(prompt.body).toContain(`file \`${file}\``);
      expect(prompt.body).toContain("+hello from the agent");
      expect(request(prompt.code)).toMatchObject({ tool: "edit", inputKind: "diff", rule: "edits" });
      expect(existsSync(file)).toBe(false);
      await alice.react(solo, prompt.id, "✅");
      await promptEdit(alice, solo, prompt.id, /Done: applied/);
      expect(readFileSync(file, "utf8")).toBe("hello from the agent\n");
      await stateOf(prompt.code, "succeeded");
    }, long);
  });

  describe("test 4: a group rule, quorum 2, no self-approval", () => {
    it("counts only eligible members other than the requester; a redacted ✅ is withdrawn; two approvals run it", async () => {
      planBash("GROUP-TOKEN", "touch group-deploy.txt");
      await alice.sendText(group, "GROUP-TOKEN: deploy");
      const prompt = await promptFor(bob, group, "touch group-deploy.txt");
      codes.group = prompt.code;
      expect(request(prompt.code)!.approval).toMatchObject({ quorum: 2, selfApproval: false, minPowerLevel: 50 });
      // The approvers are mentioned; the requester and the power-level-0 member are not.
      const mentioned = prompt.event.getContent()["m.mentions"]?.user_ids as string[];
      expect(mentioned).toEqual(expect.arrayContaining([bob.userId, carol.userId]));
      expect(mentioned).not.toContain(alice.userId);
      expect(mentioned).not.toContain(dave.userId);

      await alice.react(group, prompt.id, "✅");
      await threadNote(bob, group, prompt.id, /requester may not approve their own request/);

      // Eve approves while a member, then leaves: at decision time her ✅ no longer counts.
      await eve.react(group, prompt.id, "✅");
      await promptEdit(bob, group, prompt.id, new RegExp(`So far 1 of 2: ${esc(eve.userId)}`));
      await eve.client.leave(group);
      await bob.waitForMembership(group, eve.userId, "leave");

      await dave.react(group, prompt.id, "✅");
      await threadNote(bob, group, prompt.id, /power level 0 is below 50/);

      const bobVote = await bob.react(group, prompt.id, "✅");
      await promptEdit(bob, group, prompt.id, new RegExp(`So far 1 of 2: ${esc(bob.userId)}\\.[\\s\\S]*Not counted: ${esc(eve.userId)} \\(not a member of the room\\)`));
      expect(request(prompt.code)!.state).toBe("pending");

      await bob.redact(group, bobVote);
      await vi.waitFor(() => expect(ledger((l) => l.getVote(bobVote)?.withdrawn)).toBeTruthy(), { timeout: long, interval: 250 });
      await carol.react(group, prompt.id, "✅");
      await promptEdit(bob, group, prompt.id, new RegExp(`So far 1 of 2: ${esc(carol.userId)}\\.`));
      expect(request(prompt.code)!.state).toBe("pending");
      expect(existsSync(project("group", "group-deploy.txt"))).toBe(false);

      await bob.react(group, prompt.id, "✅");
      await promptEdit(bob, group, prompt.id, new RegExp(`Approved by ${esc(carol.userId)}, ${esc(bob.userId)}`));
      await threadNote(bob, group, prompt.id, /\*\*Result\*\* .*exit 0/);
      expect(existsSync(project("group", "group-deploy.txt"))).toBe(true);
      await stateOf(prompt.code, "succeeded");
    }, long);
  });

  describe("test 5: a strict rule", () => {
    it("a reaction does not approve; !approve from an unverified device does not; from a cross-signed one it does", async () => {
      expect(await carol.deviceIsCrossSignedByOwner(carol.userId, carol.deviceId)).toBe(true);
      expect(await carol.deviceIsCrossSignedByOwner(frank.userId, frank.deviceId)).toBe(false);
      planBash("STRICT-TOKEN", "touch strict-release.txt");
      await alice.sendText(group, "STRICT-TOKEN: release");
      const prompt = await promptFor(carol, group, "touch strict-release.txt");
      codes.strict = prompt.code;
      expect(prompt.body).toMatch(/Strict rule: only an encrypted `!approve/);

      await bob.react(group, prompt.id, "✅");
      await threadNote(carol, group, prompt.id, /strict: approve with an encrypted !approve CODE, not a reaction/);

      await frank.sendText(group, `!approve ${prompt.code}`);
      await stack.waitForBot(carol, group, /does not count: this rule is strict: the vote must come from a device cross-signed by its owner/, long);
      expect(request(prompt.code)!.state).toBe("pending");
      expect(existsSync(project("group", "strict-release.txt"))).toBe(false);

      await carol.sendText(group, `!approve ${prompt.code}`);
      await stack.waitForBot(carol, group, new RegExp(`Approved \`${prompt.code}\``), long);
      await stateOf(prompt.code, "succeeded");
      expect(existsSync(project("group", "strict-release.txt"))).toBe(true);
      const votes = ledger((l) => l.listVotes(request(prompt.code)!.id));
      expect(votes.find((v) => v.voter === carol.userId)).toMatchObject({ via: "command", encrypted: true, verifiedDevice: true, device: carol.deviceId });
      expect(votes.find((v) => v.voter === frank.userId)).toMatchObject({ via: "command", encrypted: true, verifiedDevice: false });
      expect(votes.find((v) => v.voter === bob.userId)).toMatchObject({ via: "reaction", encrypted: false });
    }, long);
  });

  describe("test 6: restart", () => {
    it("a ✅ given while the bot is down counts after it restarts, and the command runs exactly once", async () => {
      planBash("RESTART-TOKEN", "echo ran-once >> restart-count.txt");
      await alice.sendText(solo, "RESTART-TOKEN: count");
      const prompt = await promptFor(alice, solo, "echo ran-once >> restart-count.txt");
      codes.restart = prompt.code;
      await stack.bot.kill();
      await alice.react(solo, prompt.id, "✅");
      expect(existsSync(project("solo", "restart-count.txt"))).toBe(false);
      await stack.restartBot();
      await threadNote(alice, solo, prompt.id, /\*\*Result\*\* .*exit 0/);
      await stateOf(prompt.code, "succeeded");
      expect(readFileSync(project("solo", "restart-count.txt"), "utf8")).toBe("ran-once\n");
      const claims = ledger((l) => l.history(request(prompt.code)!.id).filter((e) => e.event === "exec.claim"));
      expect(claims).toHaveLength(1);
    }, long);
  });

  describe("expiry (test 2, continued)", () => {
    it("a request nobody answers expires on the bot's clock and does not run", async () => {
      await promptEdit(alice, expiring, expiringPrompt.id, /Expired at/);
      await stateOf(expiringPrompt.code, "expired");
      await toolResultIncludes("Expired: nobody approved the command within 1 min");
      expect(existsSync(project("expiring", "expire-me.txt"))).toBe(false);
      codes.expired = expiringPrompt.code;
    }, long);
  });

  describe("test 8: the ledger", () => {
    it("verifies and holds every request, vote, decision and execution", () => {
      const audit = ledger((l) => ({ verify: l.verify(), history: Object.fromEntries(Object.entries(codes).map(([k, c]) => [k, l.history(l.byCode(c)!.id).map((e) => e.event)])) }));
      expect(audit.verify.ok).toBe(true);
      const h = audit.history;
      const decided = (events: string[]) => events.filter((e) => e === "request.update").length;
      for (const [name, events] of Object.entries(h)) {
        expect(events[0], name).toBe("request.create");
        expect(events, name).toContain("request.prompt");
        expect(decided(events), name).toBeGreaterThanOrEqual(1);
      }
      for (const name of ["approved", "edit", "group", "strict", "restart"]) {
        expect(h[name], name).toEqual(expect.arrayContaining(["request.review", "exec.claim", "exec.start", "exec.result"]));
      }
      const allowed = ledger((l) => {
        const req = l.listByState("succeeded").find((r) => r.input === "echo allowed-run-output")!;
        return l.history(req.id).map((e) => ({ event: e.event, actor: e.actor }));
      });
      expect(allowed.map((e) => e.event)).toEqual(["request.create", "request.update", "exec.claim", "exec.start", "exec.result"]);
      expect(allowed[1]!.actor).toBe("policy:read-only");
      expect(h.denied).toContain("request.review");
      expect(h.denied).not.toContain("exec.claim");
      expect(h.expired).not.toContain("request.review");
      expect(h.expired).not.toContain("exec.claim");
      // Group: the requester's, Eve's, Dave's, Bob's (withdrawn and again) and Carol's votes are all there.
      expect(h.group!.filter((e) => e === "request.review")).toHaveLength(6);
      expect(h.group).toContain("request.review.withdraw");
    });
  });
});

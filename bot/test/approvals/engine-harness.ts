// Unit-test set-up for the approval engine: a real SQLite ledger in a temp dir, the real policy
// compiled from YAML, a clock moved by hand, and in-memory ports that record what the engine sends
// to Matrix, the agent and the runner. No homeserver, opencode or runner process is involved.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CancelRequest, ExecResult, Grant, RunnerEvent } from "@pocketcoder/sandbox/protocol";
import { afterEach } from "vitest";
import type { PermissionRequest, ToolPart } from "../../src/agent/events.ts";
import type { PermissionReply } from "../../src/agent/sessions.ts";
import { createApprovalEngine } from "../../src/approvals/engine.ts";
import type { ApprovalEngine, PermissionContext, RoomState, VoteAuth } from "../../src/approvals/ports.ts";
import type { Command, CommandContext } from "../../src/chat/command.ts";
import { Ledger } from "../../src/ledger/ledger.ts";
import { createLogger } from "../../src/log.ts";
import type { Messenger, SendOptions } from "../../src/matrix/messenger.ts";
import type { Policy } from "../../src/policy/compile.ts";
import { policyFromTexts } from "../../src/policy/load.ts";

export const t0 = 1_700_000_000_000;
export const ROOM = "!room:hs";
export const BOT = "@bot:hs";
export const OWNER = "@owner:hs";
export const DIR = "/workspace/app";

export const testPolicy = `
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
    command: ["ls", "ls *", "echo *"]
  - id: no-shutdown
    decision: deny
    risk: critical
    message: Never shut the machine down.
    command: ["shutdown", "shutdown *"]
  - id: deploy-four-eyes
    decision: ask
    risk: high
    command: ["deploy *"]
    quorum: 2
    selfApproval: false
    approvers: { minPowerLevel: 50 }
  - id: schema-two
    decision: ask
    risk: medium
    command: ["make schema"]
    quorum: 2
    selfApproval: false
  - id: no-force-push
    decision: deny
    risk: critical
    command: ["git push * --force*"]
  - id: publish-strict
    decision: ask
    risk: medium
    command: ["npm publish", "npm publish *"]
    strict: true
  - id: edits
    decision: ask
    risk: medium
    tool: edit
`;

export type Sent =
  | { kind: "send"; roomId: string; eventId: string; markdown: string; opts: SendOptions }
  | { kind: "edit"; roomId: string; eventId: string; target: string; markdown: string }
  | { kind: "react"; roomId: string; eventId: string; target: string; key: string }
  | { kind: "upload"; roomId: string; eventId: string; name: string; bytes: Uint8Array; threadRoot?: string };

export class RecordingMessenger implements Messenger {
  readonly sent: Sent[] = [];
  private n = 0;
  private id() {
    return `$bot${++this.n}`;
  }
  async sendMarkdown(roomId: string, markdown: string, opts: SendOptions = {}) {
    const eventId = this.id();
    this.sent.push({ kind: "send", roomId, eventId, markdown, opts });
    return eventId;
  }
  async edit(roomId: string, target: string, markdown: string) {
    const eventId = this.id();
    this.sent.push({ kind: "edit", roomId, eventId, target, markdown });
    return eventId;
  }
  async react(roomId: string, target: string, key: string) {
    const eventId = this.id();
    this.sent.push({ kind: "react", roomId, eventId, target, key });
    return eventId;
  }
  replyInThread(roomId: string, rootId: string, markdown: string, opts: SendOptions = {}) {
    return this.sendMarkdown(roomId, markdown, { ...opts, threadRoot: rootId });
  }
  async uploadFile(roomId: string, name: string, bytes: Uint8Array, _mime: string, opts: { threadRoot?: string } = {}) {
    const eventId = this.id();
    this.sent.push({ kind: "upload", roomId, eventId, name, bytes, ...(opts.threadRoot ? { threadRoot: opts.threadRoot } : {}) });
    return eventId;
  }
  /** The prompt: the first message that asks for approval. */
  prompts(): Extract<Sent, { kind: "send" }>[] {
    return this.sent.filter((s): s is Extract<Sent, { kind: "send" }> => s.kind === "send" && s.markdown.startsWith("**Approval needed**"));
  }
  /** The latest text of a message: its last edit, or the original. */
  latest(eventId: string): string {
    const edits = this.sent.filter((s): s is Extract<Sent, { kind: "edit" }> => s.kind === "edit" && s.target === eventId);
    if (edits.length) return edits.at(-1)!.markdown;
    const orig = this.sent.find((s) => s.kind === "send" && s.eventId === eventId);
    return orig && orig.kind === "send" ? orig.markdown : "";
  }
  thread(rootId: string): Extract<Sent, { kind: "send" }>[] {
    return this.sent.filter((s): s is Extract<Sent, { kind: "send" }> => s.kind === "send" && s.opts.threadRoot === rootId);
  }
}

/** Runner events pushed by the test and pulled by the engine's subscription. */
export class FakeRunner {
  readonly grants: Grant[] = [];
  readonly cancels: CancelRequest[] = [];
  readonly logs = new Map<string, Buffer>();
  failGrants = false;
  private queue: RunnerEvent[] = [];
  private wake: (() => void) | undefined;
  private seq = 0;
  subscriptions = 0;

  async grant(grant: Grant): Promise<void> {
    if (this.failGrants) throw new Error("runner unavailable");
    this.grants.push(grant);
  }
  async cancel(req: CancelRequest): Promise<void> {
    this.cancels.push(req);
  }
  async execLog(execId: string): Promise<Buffer> {
    return this.logs.get(execId) ?? Buffer.alloc(0);
  }
  async *events(opts: { after?: number; signal?: AbortSignal }): AsyncGenerator<RunnerEvent> {
    this.subscriptions++;
    while (!opts.signal?.aborted) {
      const next = this.queue.shift();
      if (next) {
        yield next;
        continue;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        opts.signal?.addEventListener("abort", () => resolve(), { once: true });
      });
    }
  }
  emit(body: Omit<RunnerEvent, "seq" | "ts">): void {
    this.queue.push({ ...body, seq: ++this.seq, ts: new Date().toISOString() } as RunnerEvent);
    this.wake?.();
  }
}

export class RecordingAgent {
  readonly replies: { sessionId: string; permissionId: string; reply: PermissionReply }[] = [];
  /** What reply() answers: false means opencode no longer knows the request. */
  knows = true;
  async reply(target: { sessionId: string; permissionId: string }, reply: PermissionReply): Promise<boolean> {
    this.replies.push({ ...target, reply });
    return this.knows;
  }
  to(permissionId: string) {
    return this.replies.filter((r) => r.permissionId === permissionId).map((r) => r.reply);
  }
}

export class FakeRoom implements RoomState {
  constructor(
    public joined: Set<string>,
    public levels: Record<string, number>,
  ) {}
  isJoined(u: string) {
    return this.joined.has(u);
  }
  powerLevel(u: string) {
    return this.levels[u] ?? 0;
  }
  members() {
    return [...this.joined];
  }
}

const dirs: string[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

let policyCache: Promise<Policy> | undefined;
export function loadTestPolicy(): Promise<Policy> {
  policyCache ??= policyFromTexts([{ name: "test.yaml", text: testPolicy }]);
  return policyCache;
}

export interface Harness {
  engine: ApprovalEngine;
  ledger: Ledger;
  dbPath: string;
  clock: { now: number };
  messenger: RecordingMessenger;
  runner: FakeRunner;
  agent: RecordingAgent;
  room: FakeRoom;
  auth: Map<string, VoteAuth>;
  policy: Policy;
  /** A fresh engine on the same database and ports, as after a restart. */
  restart(): Promise<Harness>;
}

export async function harness(opts: { dbPath?: string; shared?: Partial<Harness> } = {}): Promise<Harness> {
  let dbPath = opts.dbPath;
  if (!dbPath) {
    const dir = mkdtempSync(join(tmpdir(), "pocketcoder-approvals-"));
    dirs.push(dir);
    dbPath = join(dir, "ledger.db");
  }
  const clock = opts.shared?.clock ?? { now: t0 };
  const ledger = Ledger.open(dbPath, { clock: () => clock.now });
  const messenger = opts.shared?.messenger ?? new RecordingMessenger();
  const runner = opts.shared?.runner ?? new FakeRunner();
  const agent = opts.shared?.agent ?? new RecordingAgent();
  const room =
    opts.shared?.room ??
    new FakeRoom(new Set([BOT, OWNER, "@alice:hs", "@bob:hs", "@low:hs"]), { [BOT]: 100, [OWNER]: 100, "@alice:hs": 50, "@bob:hs": 50, "@low:hs": 0 });
  const auth = opts.shared?.auth ?? new Map<string, VoteAuth>();
  const policy = await loadTestPolicy();
  const engine = createApprovalEngine({
    ledger,
    policy: { current: () => policy },
    messenger,
    roomState: () => room,
    voteAuth: async (_roomId, eventId) => auth.get(eventId) ?? { encrypted: false, verifiedDevice: false, device: null },
    agent,
    runner,
    botUserId: BOT,
    clock: () => clock.now,
    log: createLogger("approvals", () => {}),
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await engine.stop();
    if (ledger.db.open) ledger.close();
  };
  cleanups.push(stop);
  const h: Harness = {
    engine,
    ledger,
    dbPath,
    clock,
    messenger,
    runner,
    agent,
    room,
    auth,
    policy,
    restart: async () => {
      await stop();
      const next = await harness({ dbPath, shared: { clock, messenger, runner, agent, room, auth } });
      await next.engine.start();
      return next;
    },
  };
  return h;
}

let perm = 0;
export function bashPermission(command: string, opts: { session?: string; callId?: string } = {}): PermissionRequest {
  const n = ++perm;
  return {
    id: `per_${n}`,
    sessionID: opts.session ?? "ses_1",
    permission: "bash",
    patterns: [command],
    metadata: { command },
    always: [`${command.split(" ")[0]} *`],
    tool: { messageID: `msg_${n}`, callID: opts.callId ?? `call_${n}` },
  };
}

export function editPermission(file: string, diff: string): PermissionRequest {
  const n = ++perm;
  return {
    id: `per_${n}`,
    sessionID: "ses_1",
    permission: "edit",
    patterns: [file],
    metadata: { filepath: `${DIR}/${file}`, diff },
    always: ["*"],
    tool: { messageID: `msg_${n}`, callID: `call_${n}` },
  };
}

export function context(extra: Partial<PermissionContext> = {}): PermissionContext {
  return { roomId: ROOM, project: "app", directory: DIR, requester: OWNER, ...extra };
}

let reaction = 0;
export function react(h: Harness, target: string, sender: string, key = "✅") {
  const eventId = `$react${++reaction}`;
  return { eventId, done: h.engine.onReaction({ roomId: ROOM, eventId, sender, targetEventId: target, key, encrypted: false, originTs: h.clock.now }) };
}

export function command(h: Harness, name: string): Command {
  const c = h.engine.commands.find((x) => x.name === name);
  if (!c) throw new Error(`no command ${name}`);
  return c;
}

let cmdEvent = 0;
/** Runs `!name args` as `sender`, with the given authenticity of the message; returns the reply text. */
export async function runCommand(h: Harness, name: string, args: string, sender: string, auth?: VoteAuth): Promise<string> {
  const eventId = `$cmd${++cmdEvent}`;
  if (auth) h.auth.set(eventId, auth);
  const ctx: CommandContext = { args, sender, roomId: ROOM, sentAt: h.clock.now, now: () => h.clock.now, commands: [], eventId };
  const c = command(h, name);
  return c.render(await c.execute(ctx));
}

export function finished(call: { session: string; callId: string }, result: Partial<ExecResult> = {}): Omit<RunnerEvent, "seq" | "ts"> {
  const r: ExecResult = {
    execId: "0123456789abcdef",
    session: call.session,
    callId: call.callId,
    status: "exited",
    exitCode: 0,
    durationMs: 1234,
    cwd: DIR,
    outputBytes: 6,
    outputSha256: "a".repeat(64),
    truncated: false,
    head: "hello\n",
    tail: "",
    omittedBytes: 0,
    logPath: "/tmp/x.log",
    startedAt: new Date(t0).toISOString(),
    finishedAt: new Date(t0 + 1234).toISOString(),
    ...result,
  };
  return { type: "exec.finished", session: call.session, callId: call.callId, execId: r.execId, result: r } as Omit<RunnerEvent, "seq" | "ts">;
}

export function started(call: { session: string; callId: string }): Omit<RunnerEvent, "seq" | "ts"> {
  return {
    type: "exec.started",
    session: call.session,
    callId: call.callId,
    execId: "0123456789abcdef",
    sha256: "a".repeat(64),
    cwd: DIR,
    timeoutMs: 120000,
    logPath: "/tmp/x.log",
  } as Omit<RunnerEvent, "seq" | "ts">;
}

export function toolPart(p: PermissionRequest, state: ToolPart["state"]): ToolPart {
  return { id: `prt_${p.id}`, sessionID: p.sessionID, messageID: p.tool!.messageID, type: "tool", tool: p.permission, callID: p.tool!.callID, state };
}

// The conversation loop: each room talks to one OpenCode session in its project folder. A message
// becomes a prompt (joining the running turn when the agent is busy); each turn gets one reply
// message, edited as the agent streams; permission requests go to the approval engine with the
// turn's requester; `!new` and `!stop` end turns cleanly; an agent crash is reported in the rooms
// it hit, with what was pending cancelled.
import type { OpencodeClient } from "@opencode-ai/sdk/v2";
import type { CancelRequest, CancelResponse, SessionInfo } from "@pocketcoder/sandbox/protocol";
import { parseAgentEvent, type AgentEvent, type AgentEvents, type PermissionRequest } from "../agent/events.ts";
import { createSession, pendingPermissions, replyPermission, sendPrompt, stopSession } from "../agent/sessions.ts";
import type { ApprovalEngine } from "../approvals/ports.ts";
import type { IncomingMessage } from "../chat/router.ts";
import type { Logger } from "../log.ts";
import type { Messenger } from "../matrix/messenger.ts";
import type { RoomBinding, RoomBindings } from "./bindings.ts";
import { ensureProjectDir, projectNameFor } from "./project.ts";
import { Turn, type Placement } from "./turn.ts";

export interface ConversationDeps {
  /** The current opencode client; throws while the agent is down. */
  client(): OpencodeClient;
  events: AgentEvents;
  bindings: RoomBindings;
  /** Real path of the workspace; project folders are made in it. */
  workspace: string;
  messenger: Messenger;
  /** The room's own name (m.room.name), if it has one: the project is named after it. */
  roomName(roomId: string): string | undefined;
  engine: Pick<ApprovalEngine, "onPermissionAsked" | "onToolPart" | "rejectPendingForSession">;
  runner: { cancel(req: CancelRequest): Promise<CancelResponse>; sessions(): Promise<SessionInfo[]> };
  /** Sessions with approval requests still pending in the ledger, and their rooms. */
  pendingSessions(): { roomId: string; sessionId: string }[];
  log: Logger;
  editIntervalMs?: number;
}

interface RoomRuntime {
  binding: RoomBinding;
  turn: Turn | undefined;
  /** Where the last message that joined a running turn was. If the agent took it up only after
   * that turn ended (it was ending as the message came), the next turn answers it there. */
  joined: Placement | undefined;
  off(): void;
}

export interface StopOutcome {
  project: string;
  /** Approval requests cancelled and permission requests rejected. */
  cancelledRequests: number;
  /** Whether a command running in the sandbox was cancelled. */
  cancelledCommand: boolean;
}

const actor = "bot";

export class Conversations {
  private readonly rooms = new Map<string, RoomRuntime>();
  /** Per room, the chain of work so messages and commands of one room are handled in order. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Rooms told the agent stopped; they hear again when it is back. */
  private readonly outage = new Set<string>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly deps: ConversationDeps) {}

  /** Watches every bound session, answers permission requests of unknown sessions, and reconciles
   * after each (re)connection of the event stream (events sent meanwhile are lost). */
  start(): void {
    for (const b of this.deps.bindings.all()) this.attach(b);
    this.unsubscribe.push(this.deps.events.onConnected(() => void this.reconcile()));
    this.unsubscribe.push(
      this.deps.events.onEvent((ev) => {
        if (ev.type === "permission.asked" && !this.runtimeOfSession(ev.properties.sessionID)) void this.refuseStray(ev.properties);
      }),
    );
  }

  /** Stops watching; turns under way get their reply finished with a note. */
  async stop(): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) off();
    const open = [...this.rooms.values()].flatMap((rt) => (rt.turn ? [rt.turn] : []));
    for (const rt of this.rooms.values()) rt.off();
    this.rooms.clear();
    await Promise.all(open.map((t) => t.finish("⚠ Interrupted: the bot is shutting down.")));
  }

  /** The room's binding, if it has one. */
  binding(roomId: string): RoomBinding | null {
    return this.rooms.get(roomId)?.binding ?? this.deps.bindings.get(roomId);
  }

  /** A person's ordinary message: relayed to the room's session (created on the first message). */
  chat(message: IncomingMessage): Promise<void> {
    return this.serially(message.roomId, async () => {
      let rt = this.rooms.get(message.roomId);
      if (!rt) {
        try {
          rt = await this.bindRoom(message.roomId, message.sender);
        } catch (error) {
          this.deps.log.error("could not start a session for the room", { roomId: message.roomId, error });
          await this.deps.messenger.sendMarkdown(message.roomId, `⚠ I could not start an agent session: ${(error as Error).message}. Try again in a moment.`, placementOf(message));
          return;
        }
      }
      const fresh = rt.turn === undefined;
      rt.joined = fresh ? undefined : placementOf(message);
      const turn = rt.turn ?? this.openTurn(rt, placementOf(message));
      turn.addRequester(message.sender);
      try {
        await sendPrompt(this.deps.client(), { directory: rt.binding.directory, sessionID: rt.binding.sessionId, text: message.body });
      } catch (error) {
        this.deps.log.warn("prompt failed", { roomId: message.roomId, error });
        const text = `⚠ Your message did not reach the agent: ${(error as Error).message}. Try again in a moment.`;
        if (fresh && rt.turn === turn) {
          rt.turn = undefined;
          await turn.finish(text);
        } else await this.deps.messenger.sendMarkdown(message.roomId, text, placementOf(message));
      }
    });
  }

  /** `!new`: ends the running turn (if any) and binds the room to a fresh session in the same project. */
  newSession(roomId: string, sender: string): Promise<{ project: string; sessionId: string; stopped: StopOutcome | null }> {
    return this.serially(roomId, async () => {
      const rt = this.rooms.get(roomId) ?? this.attachExisting(roomId);
      const stopped = rt ? await this.halt(rt, sender, `${sender} started a new session`) : null;
      // The old session's events stop reaching us once the room is rebound: close its reply now.
      const cut = rt?.turn;
      if (rt) rt.turn = undefined;
      void cut?.finish("⏹ Stopped: a new session was started.");
      const next = await this.bindRoom(roomId, sender, rt?.binding.project);
      return { project: next.binding.project, sessionId: next.binding.sessionId, stopped };
    });
  }

  /** `!stop`: aborts the turn, cancels its approval requests and the command running in the sandbox. */
  stopRoom(roomId: string, sender: string): Promise<StopOutcome | null> {
    return this.serially(roomId, async () => {
      const rt = this.rooms.get(roomId) ?? this.attachExisting(roomId);
      return rt ? this.halt(rt, sender, `stopped by ${sender}`) : null;
    });
  }

  /** The agent server died: finish the turns it cut short, cancel what waited for approval, say so. */
  async agentDied(): Promise<void> {
    const hit = new Map<string, string>();
    for (const rt of this.rooms.values()) {
      if (!rt.turn) continue;
      hit.set(rt.binding.roomId, rt.binding.sessionId);
      const turn = rt.turn;
      rt.turn = undefined;
      void turn.finish("⚠ Interrupted: the agent stopped unexpectedly.");
    }
    for (const roomId of hit.keys()) this.outage.add(roomId);
    await this.cancelPending(hit, "the agent stopped unexpectedly", (what) => `⚠ The agent stopped unexpectedly and is being restarted.${what}`);
  }

  /** At start with a fresh agent server: requests the previous server asked are unanswerable now. */
  async cancelStale(): Promise<void> {
    await this.cancelPending(new Map(), "the agent was restarted while this waited", (what) =>
      what ? `⚠ The agent was restarted while this room's agent waited.${what} Send your message again to carry on.` : "",
    );
  }

  private async cancelPending(hit: Map<string, string>, reason: string, say: (what: string) => string): Promise<void> {
    for (const p of this.deps.pendingSessions()) hit.set(p.roomId, p.sessionId);
    await Promise.all(
      [...hit].map(async ([roomId, sessionId]) => {
        const cancelled = await this.deps.engine.rejectPendingForSession(sessionId, reason, actor).catch((error: unknown) => {
          this.deps.log.error("could not cancel pending requests", { roomId, sessionId, error });
          return 0;
        });
        // Nobody is left to read the result of a command still running for this session.
        await this.deps.runner.cancel({ session: sessionId }).catch(() => undefined);
        const what = cancelled > 0 ? ` ${cancelled === 1 ? "The request" : `${cancelled} requests`} waiting for approval ${cancelled === 1 ? "was" : "were"} cancelled.` : "";
        const text = say(what);
        if (text) await this.send(roomId, text);
      }),
    );
  }

  /** The agent server is serving again after `agentDied`. */
  async agentBack(): Promise<void> {
    const rooms = [...this.outage];
    this.outage.clear();
    await Promise.all(rooms.map((roomId) => this.send(roomId, "✅ The agent is running again. Send your last message again to carry on.")));
  }

  // ---- internals ----

  private serially<T>(roomId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(roomId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    const tail = next.catch(() => undefined);
    this.queues.set(roomId, tail);
    void tail.then(() => {
      if (this.queues.get(roomId) === tail) this.queues.delete(roomId);
    });
    return next;
  }

  private runtimeOfSession(sessionId: string): RoomRuntime | undefined {
    for (const rt of this.rooms.values()) if (rt.binding.sessionId === sessionId) return rt;
    const binding = this.deps.bindings.bySession(sessionId);
    return binding ? this.attach(binding) : undefined;
  }

  private attachExisting(roomId: string): RoomRuntime | undefined {
    const binding = this.deps.bindings.get(roomId);
    return binding ? this.attach(binding) : undefined;
  }

  private attach(binding: RoomBinding): RoomRuntime {
    const existing = this.rooms.get(binding.roomId);
    if (existing?.binding.sessionId === binding.sessionId) return existing;
    existing?.off();
    const rt: RoomRuntime = { binding, turn: undefined, joined: undefined, off: () => undefined };
    rt.off = this.deps.events.onSession(binding.sessionId, (ev) => this.onEvent(rt, ev));
    this.rooms.set(binding.roomId, rt);
    return rt;
  }

  /** Creates a session (and the project folder on first use) and binds the room to it. */
  private async bindRoom(roomId: string, sender: string, project?: string): Promise<RoomRuntime> {
    const existing = project === undefined ? this.attachExisting(roomId) : undefined;
    if (existing) return existing;
    const taken = new Set(this.deps.bindings.all().filter((b) => b.roomId !== roomId).map((b) => b.project));
    const name = project ?? projectNameFor(this.deps.roomName(roomId), roomId, taken);
    const directory = await ensureProjectDir(this.deps.workspace, name);
    const sessionId = await createSession(this.deps.client(), { directory, title: `${name} · ${roomId}` });
    const binding = this.deps.bindings.bind({ roomId, project: name, directory, sessionId, boundBy: sender });
    this.deps.log.info("room bound", { roomId, project: name, sessionId });
    return this.attach(binding);
  }

  private openTurn(rt: RoomRuntime, placement: Placement): Turn {
    const turn = new Turn({
      roomId: rt.binding.roomId,
      sessionId: rt.binding.sessionId,
      messenger: this.deps.messenger,
      placement,
      log: this.deps.log,
      ...(this.deps.editIntervalMs !== undefined ? { editIntervalMs: this.deps.editIntervalMs } : {}),
    });
    rt.turn = turn;
    return turn;
  }

  private onEvent(rt: RoomRuntime, ev: AgentEvent): void {
    if (ev.type === "message.part.updated" && ev.properties.part.type === "tool") this.deps.engine.onToolPart(ev.properties.part);
    // Work the bot did not prompt (a turn under way when the bot started, or one that began as
    // the previous turn ended) still gets its reply message.
    if (!rt.turn && !(ev.type === "permission.asked" || (ev.type === "session.status" && ev.properties.status.type === "busy"))) return;
    let turn = rt.turn;
    if (!turn) {
      turn = this.openTurn(rt, rt.joined ?? {});
      rt.joined = undefined;
    }
    // The engine first: the Matrix client sends messages one at a time, and the approval prompt,
    // not the reply's "waiting for approval" line, is what people wait for.
    if (ev.type === "permission.asked") void this.askEngine(rt, turn, ev.properties);
    turn.apply(ev);
    if (turn.done) {
      if (rt.turn === turn) rt.turn = undefined;
      void turn.finish();
    }
  }

  private async askEngine(rt: RoomRuntime, turn: Turn, permission: PermissionRequest): Promise<void> {
    const { roomId, project, directory } = rt.binding;
    const toolPart = turn.toolPart(permission.tool?.callID);
    try {
      await this.deps.engine.onPermissionAsked(permission, {
        roomId,
        project,
        directory,
        // After a restart nobody may have spoken in this turn yet: whoever bound the session asked for it.
        requester: turn.requester ?? rt.binding.boundBy,
        coRequesters: turn.coRequesters,
        ...(toolPart ? { toolPart } : {}),
      });
    } catch (error) {
      this.deps.log.error("approval engine failed on a permission request", { roomId, permission: permission.id, error });
      await this.send(roomId, `⚠ The agent asked for permission (${permission.permission}) and I could not handle it: ${(error as Error).message}`);
    }
  }

  private async halt(rt: RoomRuntime, sender: string, reason: string): Promise<StopOutcome> {
    const { directory, sessionId, project } = rt.binding;
    const client = this.deps.client();
    const running = await this.deps.runner
      .sessions()
      .then((all) => all.some((s) => s.session === sessionId && s.running !== null))
      .catch(() => false);
    // Abort first, so the model is not called again with the cancelled command's result. Aborting
    // makes opencode signal the shim, which cancels its command; the runner is told too, in case.
    await client.session.abort({ sessionID: sessionId, directory });
    const cancelled = await this.deps.runner
      .cancel({ session: sessionId })
      .then((r) => r.cancelled)
      .catch(() => false);
    const cancelledCommand = running || cancelled;
    const requests = await this.deps.engine.rejectPendingForSession(sessionId, reason, sender);
    const leftovers = await stopSession(client, { directory, sessionID: sessionId });
    this.deps.log.info("session stopped", { roomId: rt.binding.roomId, sessionId, requests, leftovers: leftovers.length, cancelledCommand });
    return { project, cancelledRequests: requests + leftovers.length, cancelledCommand };
  }

  /** Catches up after the event stream (re)connected: pending permissions and turns under way. */
  private async reconcile(): Promise<void> {
    // Only turns open before this connection can have missed their end; a turn a message opens
    // while this runs is not idle just because opencode has not picked the prompt up yet.
    const before = new Map([...this.rooms.values()].map((rt) => [rt, rt.turn]));
    for (const [rt, earlier] of before) {
      const { directory, sessionId, roomId } = rt.binding;
      try {
        const client = this.deps.client();
        const pending = await pendingPermissions(client, { directory, sessionID: sessionId });
        const status = (await client.session.status({ directory })).data?.[sessionId]?.type ?? "idle";
        if (earlier && rt.turn === earlier && status === "idle" && pending.length === 0) {
          rt.turn = undefined;
          // The turn ended while the stream was down: its messages are in opencode's store.
          const replayed = await this.replay(client, rt.binding, earlier).catch((error: unknown) => {
            this.deps.log.warn("could not read the session's messages", { roomId, sessionId, error });
            return false;
          });
          await earlier.finish(replayed ? undefined : "(The connection to the agent was interrupted; this reply may be incomplete.)");
          continue;
        }
        if (rt.turn !== earlier) continue;
        if (status === "idle" && pending.length === 0) continue;
        const turn = rt.turn ?? this.openTurn(rt, {});
        for (const p of pending) {
          turn.apply({ type: "permission.asked", properties: p });
          await this.askEngine(rt, turn, p);
        }
      } catch (error) {
        this.deps.log.warn("could not reconcile a session after reconnecting", { roomId, sessionId, error });
      }
    }
  }

  /** Feeds the turn the messages opencode stored since the turn began; false if there were none. */
  private async replay(client: OpencodeClient, binding: RoomBinding, turn: Turn): Promise<boolean> {
    const { directory, sessionId } = binding;
    const r = await client.session.messages({ sessionID: sessionId, directory, limit: 50 });
    const stored = (r.data ?? []).filter((m) => m.info.time.created >= turn.openedAt);
    for (const m of stored) {
      const events: unknown[] = [
        { type: "message.updated", properties: { sessionID: sessionId, info: m.info } },
        ...m.parts.map((part) => ({ type: "message.part.updated", properties: { sessionID: sessionId, part } })),
      ];
      for (const raw of events) {
        const parsed = parseAgentEvent(raw);
        if (parsed.ok) turn.apply(parsed.event);
      }
    }
    turn.apply({ type: "session.idle", properties: { sessionID: sessionId } });
    return stored.some((m) => m.info.role === "assistant");
  }

  /** A permission request from a session no room is bound to: nobody can approve it. */
  private async refuseStray(p: PermissionRequest): Promise<void> {
    this.deps.log.warn("permission request from a session no room is bound to; rejecting", { sessionId: p.sessionID, permission: p.id });
    const client = this.deps.client();
    const sessions = await client.session.get({ sessionID: p.sessionID }).catch(() => undefined);
    const directory = (sessions?.data as { directory?: string } | undefined)?.directory ?? this.deps.workspace;
    await replyPermission(client, { directory, requestID: p.id, reply: "reject", message: "This session is not connected to any chat room, so nobody can approve this." }).catch(
      (error: unknown) => this.deps.log.warn("could not reject a stray permission request", { error }),
    );
  }

  private async send(roomId: string, markdown: string): Promise<void> {
    await this.deps.messenger.sendMarkdown(roomId, markdown).catch((error: unknown) => this.deps.log.warn("could not post to the room", { roomId, error }));
  }
}

function placementOf(message: IncomingMessage): Placement {
  return message.threadRoot ? { threadRoot: message.threadRoot } : { replyTo: message.eventId };
}

// One subscription to OpenCode's global event stream (every project directory), validated and
// narrowed to the events PocketCoder acts on, and dispatched by session id. Reconnects on its own;
// each (re)connection is announced so the owner can reconcile what it may have missed.
import type { OpencodeClient } from "@opencode-ai/sdk/v2";
import { z } from "zod";
import { createLogger, type Logger } from "../log.ts";

const id = z.string().min(1);

const ToolState = z.discriminatedUnion("status", [
  z.looseObject({ status: z.literal("pending"), input: z.record(z.string(), z.unknown()).optional() }),
  z.looseObject({ status: z.literal("running"), input: z.record(z.string(), z.unknown()), title: z.string().optional(), metadata: z.record(z.string(), z.unknown()).optional() }),
  z.looseObject({ status: z.literal("completed"), input: z.record(z.string(), z.unknown()), output: z.string(), title: z.string().optional(), metadata: z.record(z.string(), z.unknown()).optional() }),
  z.looseObject({ status: z.literal("error"), input: z.record(z.string(), z.unknown()).optional(), error: z.string(), metadata: z.record(z.string(), z.unknown()).optional() }),
]);
export type ToolState = z.infer<typeof ToolState>;

const partBase = { id, sessionID: id, messageID: id };
export const TextPart = z.looseObject({ ...partBase, type: z.literal("text"), text: z.string(), synthetic: z.boolean().optional() });
export const ToolPart = z.looseObject({ ...partBase, type: z.literal("tool"), tool: z.string(), callID: id, state: ToolState });
export type TextPart = z.infer<typeof TextPart>;
export type ToolPart = z.infer<typeof ToolPart>;
/** Parts the bot does not render (step-start, step-finish, reasoning, file, patch …). */
export type OtherPart = { type: "other"; partType: string; id: string; sessionID: string; messageID: string };
export type Part = TextPart | ToolPart | OtherPart;

const OtherPartSchema = z.looseObject({ ...partBase, type: z.string() }).transform((p): OtherPart => ({
  type: "other",
  partType: p.type,
  id: p.id,
  sessionID: p.sessionID,
  messageID: p.messageID,
}));
const PartSchema = z.unknown().transform((raw, ctx): Part => {
  const type = (raw as { type?: unknown } | null)?.type;
  const schema = type === "text" ? TextPart : type === "tool" ? ToolPart : OtherPartSchema;
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  for (const issue of r.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
  return z.NEVER;
});

export const SessionErrorInfo = z.looseObject({ name: z.string(), data: z.looseObject({ message: z.string().optional() }).optional() });
export type SessionErrorInfo = z.infer<typeof SessionErrorInfo>;

export const PermissionRequest = z.looseObject({
  id,
  sessionID: id,
  permission: z.string(),
  patterns: z.array(z.string()),
  metadata: z.record(z.string(), z.unknown()),
  always: z.array(z.string()),
  tool: z.looseObject({ messageID: id, callID: id }).optional(),
});
export type PermissionRequest = z.infer<typeof PermissionRequest>;

export const QuestionRequest = z.looseObject({
  id,
  sessionID: id,
  questions: z.array(
    z.looseObject({
      question: z.string(),
      header: z.string().optional(),
      options: z.array(z.looseObject({ label: z.string(), description: z.string().optional() })),
      multiple: z.boolean().optional(),
    }),
  ),
  tool: z.looseObject({ messageID: id, callID: id }).optional(),
});
export type QuestionRequest = z.infer<typeof QuestionRequest>;

const event = <T extends string, P extends z.ZodType>(type: T, properties: P) => z.looseObject({ type: z.literal(type), properties });

export const AgentEvent = z.discriminatedUnion("type", [
  event("server.connected", z.looseObject({})),
  event("permission.asked", PermissionRequest),
  event("permission.replied", z.looseObject({ sessionID: id, requestID: id, reply: z.enum(["once", "always", "reject"]) })),
  event("message.part.delta", z.looseObject({ sessionID: id, messageID: id, partID: id, field: z.string(), delta: z.string() })),
  event("message.part.updated", z.looseObject({ sessionID: id, part: PartSchema })),
  event(
    "message.updated",
    z.looseObject({
      sessionID: id,
      info: z.looseObject({ id, sessionID: id, role: z.enum(["user", "assistant"]), error: SessionErrorInfo.optional(), finish: z.string().optional() }),
    }),
  ),
  event(
    "session.status",
    z.looseObject({
      sessionID: id,
      status: z.discriminatedUnion("type", [
        z.looseObject({ type: z.literal("idle") }),
        z.looseObject({ type: z.literal("busy") }),
        z.looseObject({ type: z.literal("retry"), attempt: z.number(), message: z.string(), next: z.number() }),
      ]),
    }),
  ),
  event("session.idle", z.looseObject({ sessionID: id })),
  event("session.error", z.looseObject({ sessionID: id.optional(), error: SessionErrorInfo.optional() })),
  event("question.asked", QuestionRequest),
]);
export type AgentEvent = z.infer<typeof AgentEvent>;
export type AgentEventType = AgentEvent["type"];
export const agentEventTypes: readonly AgentEventType[] = AgentEvent.options.map((o) => o.shape.type.value);

export type ParsedEvent = { ok: true; event: AgentEvent } | { ok: false; type: string; reason: "unknown" | "invalid"; error?: string };

/** Validates one event; types PocketCoder does not use (heartbeats, diffs, catalog …) come back as `unknown`. */
export function parseAgentEvent(raw: unknown): ParsedEvent {
  const type = typeof (raw as { type?: unknown } | null)?.type === "string" ? (raw as { type: string }).type : "";
  if (!(agentEventTypes as readonly string[]).includes(type)) return { ok: false, type, reason: "unknown" };
  const r = AgentEvent.safeParse(raw);
  if (r.success) return { ok: true, event: r.data };
  return { ok: false, type, reason: "invalid", error: r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") };
}

/** The session an event belongs to, if any. */
export function eventSessionId(ev: AgentEvent): string | undefined {
  return ev.type === "server.connected" ? undefined : ev.properties.sessionID;
}

export type EventContext = { directory: string | undefined };
export type SessionHandler = (ev: AgentEvent, ctx: EventContext) => void;

const GlobalFrame = z.looseObject({ directory: z.string().optional(), payload: z.looseObject({ type: z.string() }) });

export type AgentEventsOptions = {
  /** Current client; a getter because a restarted opencode may listen on a new port. May throw while it is down. */
  client: () => OpencodeClient | undefined;
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  logger?: Logger;
};

export class AgentEvents {
  private readonly bySession = new Map<string, Set<SessionHandler>>();
  private readonly all = new Set<SessionHandler>();
  private readonly connectedHandlers = new Set<() => void>();
  private abort = new AbortController();
  private running: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: AgentEventsOptions) {
    this.log = opts.logger ?? createLogger("agent.events");
  }

  /** Handlers for one session's events. Returns the unsubscribe function. */
  onSession(sessionID: string, handler: SessionHandler): () => void {
    const set = this.bySession.get(sessionID) ?? new Set();
    set.add(handler);
    this.bySession.set(sessionID, set);
    return () => {
      set.delete(handler);
      if (set.size === 0 && this.bySession.get(sessionID) === set) this.bySession.delete(sessionID);
    };
  }

  /** Handlers for every event (e.g. permissions of sessions no room is watching right now). */
  onEvent(handler: SessionHandler): () => void {
    this.all.add(handler);
    return () => this.all.delete(handler);
  }

  /** Called on every (re)connection, after `server.connected`: reconcile pending permissions and statuses. */
  onConnected(handler: () => void): () => void {
    this.connectedHandlers.add(handler);
    return () => this.connectedHandlers.delete(handler);
  }

  start(): void {
    if (this.running) return;
    this.abort = new AbortController();
    this.running = this.loop(this.abort.signal);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    this.running = undefined;
  }

  /** Feeds one raw global frame (`{directory, payload}`) through validation and dispatch. */
  dispatchFrame(frame: unknown): void {
    const f = GlobalFrame.safeParse(frame);
    if (!f.success) return void this.log.warn("unreadable event frame", { error: f.error.message });
    const parsed = parseAgentEvent(f.data.payload);
    if (!parsed.ok) {
      if (parsed.reason === "invalid") this.log.warn("event failed validation", { type: parsed.type, error: parsed.error });
      return;
    }
    const ctx: EventContext = { directory: f.data.directory };
    const ev = parsed.event;
    if (ev.type === "server.connected") for (const h of this.connectedHandlers) this.safely(() => h());
    const sessionID = eventSessionId(ev);
    for (const h of sessionID ? (this.bySession.get(sessionID) ?? []) : []) this.safely(() => h(ev, ctx));
    for (const h of this.all) this.safely(() => h(ev, ctx));
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.log.error("event handler failed", { error });
    }
  }

  // One attempt per subscribe: reconnecting here picks up a new client after an opencode restart.
  private async consume(signal: AbortSignal, onFrame: () => void): Promise<void> {
    const client = this.opts.client();
    if (!client) return;
    const { stream } = await client.global.event({ signal, sseMaxRetryAttempts: 1, onSseError: (error) => this.log.debug("event stream error", { error }) });
    let received = false;
    for await (const frame of stream as AsyncIterable<unknown>) {
      received = true;
      onFrame();
      this.dispatchFrame(frame);
    }
    if (received && !signal.aborted) this.log.info("event stream ended; reconnecting");
  }

  private async loop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.consume(signal, () => (failures = 0));
      } catch (error) {
        this.log.debug("event stream unavailable", { error });
      }
      if (signal.aborted) break;
      failures++;
      const delay = Math.min((this.opts.reconnectDelayMs ?? 250) * 2 ** Math.min(failures - 1, 10), this.opts.maxReconnectDelayMs ?? 5_000);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
      });
    }
  }
}

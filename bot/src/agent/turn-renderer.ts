// Folds the events of one turn (a prompt until `session.idle`) into the text of the one reply message:
// the assistant's text as it streams, short lines for tool activity, errors in plain words.
// No I/O: feed it events, read `render()`.
import type { AgentEvent, SessionErrorInfo, ToolPart } from "./events.ts";

type ToolView = { tool: string; callID: string; state: ToolPart["state"] };
type PartView = { messageID: string } & ({ kind: "text"; text: string } | { kind: "tool"; view: ToolView });

const labelMax = 80;

export class TurnRenderer {
  private readonly roles = new Map<string, "user" | "assistant">();
  private readonly parts = new Map<string, PartView>(); // insertion order = order of first appearance
  private readonly awaitingApproval = new Set<string>(); // callIDs with an open permission request
  private readonly permissionCalls = new Map<string, string>(); // requestID → callID
  private readonly errors: string[] = [];
  private retry: { attempt: number; message: string } | undefined;
  private finished = false;

  constructor(readonly sessionID: string) {}

  get done(): boolean {
    return this.finished;
  }

  /** Applies one event; returns whether the rendered text may have changed. */
  apply(ev: AgentEvent): boolean {
    if (ev.type === "server.connected" || ev.properties.sessionID !== this.sessionID) return false;
    switch (ev.type) {
      case "message.updated":
        this.roles.set(ev.properties.info.id, ev.properties.info.role);
        return true;
      case "message.part.delta": {
        const { partID, messageID, field, delta } = ev.properties;
        if (field !== "text") return false;
        const part = this.parts.get(partID);
        if (part?.kind === "text") part.text += delta;
        else if (!part) this.parts.set(partID, { kind: "text", messageID, text: delta });
        return true;
      }
      case "message.part.updated": {
        const { part } = ev.properties;
        if (part.type === "text") {
          if (part.synthetic || part.ignored === true) return false;
          this.parts.set(part.id, { kind: "text", messageID: part.messageID, text: part.text });
          return true;
        }
        if (part.type === "tool") {
          this.parts.set(part.id, { kind: "tool", messageID: part.messageID, view: { tool: part.tool, callID: part.callID, state: part.state } });
          if (part.state.status === "completed" || part.state.status === "error") this.awaitingApproval.delete(part.callID);
          return true;
        }
        return false;
      }
      case "permission.asked": {
        const callID = ev.properties.tool?.callID;
        if (!callID) return false;
        this.permissionCalls.set(ev.properties.id, callID);
        this.awaitingApproval.add(callID);
        return true;
      }
      case "permission.replied": {
        const callID = this.permissionCalls.get(ev.properties.requestID);
        return callID !== undefined && this.awaitingApproval.delete(callID);
      }
      case "session.status":
        this.retry = ev.properties.status.type === "retry" ? { attempt: ev.properties.status.attempt, message: ev.properties.status.message } : undefined;
        return true;
      case "session.error":
        this.errors.push(describeError(ev.properties.error));
        return true;
      case "session.idle":
        this.finished = true;
        this.retry = undefined;
        return true;
      case "question.asked":
        return false;
    }
  }

  render(): string {
    const blocks: string[] = [];
    let tools: string[] = [];
    const flushTools = () => {
      if (tools.length) blocks.push(tools.join("\n"));
      tools = [];
    };
    for (const part of this.parts.values()) {
      if (this.roles.get(part.messageID) !== "assistant") continue;
      if (part.kind === "tool") {
        const line = toolLine(part.view, this.awaitingApproval.has(part.view.callID));
        if (line) tools.push(line);
        continue;
      }
      const text = part.text.trim();
      if (!text) continue;
      flushTools();
      blocks.push(text);
    }
    flushTools();
    if (this.retry) blocks.push(`⏳ Retrying (attempt ${this.retry.attempt}): ${oneLine(this.retry.message)}`);
    for (const e of this.errors) blocks.push(e);
    if (blocks.length === 0) return this.finished ? "(no reply)" : "…";
    return blocks.join("\n\n");
  }
}

function describeError(error: SessionErrorInfo | undefined): string {
  if (!error) return "⚠ The agent stopped with an unknown error.";
  if (error.name === "MessageAbortedError") return "⏹ Stopped.";
  const message = error.data?.message ? oneLine(error.data.message) : "no details";
  return `⚠ ${error.name}: ${message}`;
}

/** One short line per tool call; nothing while the call is still being prepared (no input yet). */
export function toolLine(view: ToolView, awaitingApproval: boolean): string | undefined {
  const { state } = view;
  if (state.status === "pending" && !awaitingApproval) return undefined;
  const label = toolLabel(view);
  const head = label ? `🔧 ${view.tool}: ${label}` : `🔧 ${view.tool}`;
  if (awaitingApproval) return `${head} — waiting for approval`;
  switch (state.status) {
    case "pending":
    case "running":
      return `${head} — running`;
    case "completed":
      return `${head} — done`;
    case "error":
      return `${head} — failed: ${oneLine(state.error)}`;
  }
}

function toolLabel(view: ToolView): string {
  const input = view.state.input ?? {};
  const pick = (k: string) => (typeof input[k] === "string" && input[k] ? (input[k] as string) : undefined);
  const title = "title" in view.state && typeof view.state.title === "string" && view.state.title ? view.state.title : undefined;
  const raw = pick("description") ?? title ?? pick("command") ?? pick("filePath") ?? pick("path") ?? pick("url") ?? pick("pattern") ?? "";
  return oneLine(raw);
}

/** First line, control characters made visible, shortened: tool lines must stay one short line. */
function oneLine(text: string): string {
  const visible = text
    .trim()
    .replace(/\r?\n/g, " ⏎ ")
    .replace(/[\u0000-\u001f\u007f]/g, (c) => `^${String.fromCharCode(c.charCodeAt(0) ^ 0x40)}`);
  return visible.length > labelMax ? `${visible.slice(0, labelMax - 1)}…` : visible;
}

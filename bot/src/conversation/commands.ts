// The conversation's chat commands: `!new`, `!stop` and `!project`, as entries for the command table.
import { defineCommand, type Command } from "../chat/command.ts";
import type { StopOutcome } from "./conversations.ts";
import type { RoomBinding } from "./bindings.ts";

/** What the commands need of the conversation loop. */
export interface ConversationControl {
  newSession(roomId: string, sender: string): Promise<{ project: string; sessionId: string; stopped: StopOutcome | null }>;
  stopRoom(roomId: string, sender: string): Promise<StopOutcome | null>;
  binding(roomId: string): RoomBinding | null;
}

export function renderStop(outcome: StopOutcome | null): string {
  if (!outcome) return "Nothing to stop: this room has no agent session yet.";
  const parts = ["⏹ Stopped the agent."];
  if (outcome.cancelledRequests > 0) {
    parts.push(`${outcome.cancelledRequests === 1 ? "1 request" : `${outcome.cancelledRequests} requests`} waiting for approval cancelled.`);
  }
  if (outcome.cancelledCommand) parts.push("The running command was cancelled.");
  return parts.join(" ");
}

/** The agent may be down (restarting): a failure is an answer to the person, not a crash of the handler. */
type Outcome<T> = { ok: true; value: T } | { ok: false; message: string };
const attempt = <T>(work: () => Promise<T>): Promise<Outcome<T>> =>
  work().then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, message: error instanceof Error ? error.message : String(error) }),
  );
const failed = (what: string, message: string) => `⚠ Could not ${what}: ${message}. Try again in a moment.`;

export function conversationCommands(conv: ConversationControl): Command[] {
  return [
    defineCommand({
      name: "new",
      usage: "!new",
      summary: "start a fresh agent session in this room's project (stops the current turn)",
      execute: (ctx) => attempt(() => conv.newSession(ctx.roomId, ctx.sender)),
      render: (o) =>
        o.ok
          ? [`🆕 New session in project \`${o.value.project}\`: the agent starts without the earlier conversation.`, o.value.stopped ? renderStop(o.value.stopped) : ""]
              .filter(Boolean)
              .join("\n\n")
          : failed("start a new session", o.message),
    }),
    defineCommand({
      name: "stop",
      usage: "!stop",
      summary: "stop the agent: abort its turn, cancel what waits for approval and the running command",
      execute: (ctx) => attempt(() => conv.stopRoom(ctx.roomId, ctx.sender)),
      render: (o) => (o.ok ? renderStop(o.value) : failed("stop the agent", o.message)),
    }),
    defineCommand({
      name: "project",
      usage: "!project",
      summary: "show this room's project folder and agent session",
      execute: (ctx) => conv.binding(ctx.roomId),
      render: (b) =>
        b
          ? `Project \`${b.project}\` (folder \`${b.directory}\`), session \`${b.sessionId}\`, started by ${b.boundBy} on ${new Date(b.boundAt).toISOString().slice(0, 16).replace("T", " ")} UTC.`
          : "This room has no project yet: your first message to the agent creates one, named after the room.",
    }),
  ];
}

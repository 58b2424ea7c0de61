// A chat command is data: its name, a one-line summary, how to call it, an `execute` that sees
// only a narrow context and returns a value, and a `render` that turns that value into markdown.
// Executing and rendering apart keeps both testable without a homeserver.

/** What a command may know about the message that invoked it. */
export interface CommandContext {
  /** Everything after the command word, trimmed. */
  args: string;
  sender: string;
  roomId: string;
  /** The invoking message's event id (votes are keyed by it); the router always sets it. */
  eventId?: string;
  /** The invoking event's origin_server_ts (the homeserver's clock). */
  sentAt: number;
  now(): number;
  /** The command table's public face, for !help. */
  commands: readonly CommandInfo[];
}

export interface CommandInfo {
  name: string;
  usage: string;
  summary: string;
}

export interface Command<R = unknown> extends CommandInfo {
  execute(ctx: CommandContext): R | Promise<R>;
  render(result: R): string;
}

/** Keeps `execute` and `render` agreeing on R while the table holds commands of many R. */
export function defineCommand<R>(command: Command<R>): Command<unknown> {
  return command as Command<unknown>;
}

// Where a decrypted message goes: `!command` → the command table; anything else → chat (the
// agent, from issue 5 on). The router decides and renders; sending is the caller's `reply`.
import type { Command, CommandContext, CommandInfo } from "./command.ts";
import { renderUnknownCommand } from "./commands.ts";
import { parseCommand } from "./parse-command.ts";

export interface IncomingMessage {
  roomId: string;
  eventId: string;
  sender: string;
  body: string;
  /** origin_server_ts */
  sentAt: number;
  /** The thread the message is in, if any; answers go to the same place. */
  threadRoot?: string;
}

export interface RouterDeps {
  commands: readonly Command[];
  /** Sends markdown back to where the message came from. */
  reply(message: IncomingMessage, markdown: string): Promise<void>;
  /** Ordinary chat. Until the agent arrives (issue 5) this is a no-op. */
  chat(message: IncomingMessage): Promise<void>;
  now?: () => number;
}

export interface Router {
  route(message: IncomingMessage): Promise<void>;
}

export function createRouter(deps: RouterDeps): Router {
  const byName = new Map<string, Command>();
  for (const c of deps.commands) {
    if (byName.has(c.name)) throw new Error(`two commands are named !${c.name}`);
    byName.set(c.name, c);
  }
  const infos: CommandInfo[] = deps.commands.map(({ name, usage, summary }) => ({ name, usage, summary }));
  const now = deps.now ?? Date.now;

  return {
    async route(message) {
      const parsed = parseCommand(message.body);
      if (!parsed) return deps.chat(message);
      const command = byName.get(parsed.name);
      if (!command) return deps.reply(message, renderUnknownCommand(parsed.name));
      const ctx: CommandContext = {
        args: parsed.args,
        sender: message.sender,
        roomId: message.roomId,
        eventId: message.eventId,
        sentAt: message.sentAt,
        now,
        commands: infos,
      };
      let result: unknown;
      try {
        result = await command.execute(ctx);
      } catch (error) {
        // The sender learns at once that the command did not go through; the caller still logs it.
        await deps.reply(message, `⚠ \`!${command.name}\` failed: ${error instanceof Error ? error.message : String(error)}`);
        throw error;
      }
      await deps.reply(message, command.render(result));
    },
  };
}

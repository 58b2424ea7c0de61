// The command table. A new command is one entry here (and, when it needs more of the bot, one
// narrow field more in CommandContext).
import { defineCommand, type Command } from "./command.ts";

export const ping = defineCommand({
  name: "ping",
  usage: "!ping",
  summary: "check that the bot is listening, with the round-trip time",
  // Measured from the homeserver's timestamp on the !ping to the moment the bot answers: the
  // message's way through the server and the bot's sync and decryption.
  execute: (ctx) => ({ elapsedMs: Math.max(0, ctx.now() - ctx.sentAt) }),
  render: ({ elapsedMs }) => `pong (${elapsedMs} ms from your message reaching the homeserver to this answer)`,
});

export const help = defineCommand({
  name: "help",
  usage: "!help",
  summary: "list the commands",
  execute: (ctx) => ctx.commands,
  render: (commands) =>
    ["**Commands**", ...commands.map((c) => `- \`${c.usage}\` — ${c.summary}`)].join("\n"),
});

export const commandTable: readonly Command[] = [ping, help];

export function renderUnknownCommand(name: string): string {
  return `I don't know the command \`!${name}\`. Send \`!help\` for the list of commands.`;
}

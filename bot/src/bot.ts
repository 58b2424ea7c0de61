// The bot process's core: the Matrix runtime with the chat router behind it, and, when an agent is
// configured, the loop (conversations and approvals, conversation/loop.ts). Later parts (scheduler,
// control room) plug in here, each through the narrow interface it needs.
import { EventType, MsgType, RelationType, type MatrixEvent, type Room } from "matrix-js-sdk";
import { commandTable } from "./chat/commands.ts";
import { createRouter, type IncomingMessage } from "./chat/router.ts";
import type { BotConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { prepareLoop, type Loop } from "./conversation/loop.ts";
import { startMatrix, type MatrixRuntime } from "./matrix/matrix-runtime.ts";

/** A text message worth routing, or null (edits, notices, other bots' m.notice, non-text). */
export function toIncomingMessage(event: MatrixEvent, room: Room): IncomingMessage | null {
  if (event.getType() !== EventType.RoomMessage) return null;
  // As sent: an edit the client already applied must not change a vote or a prompt (notes R12).
  const content = event.getOriginalContent();
  if (content.msgtype !== MsgType.Text || typeof content.body !== "string") return null;
  if (event.getRelation()?.rel_type === RelationType.Replace) return null;
  const eventId = event.getId();
  const sender = event.getSender();
  if (!eventId || !sender) return null;
  return {
    roomId: room.roomId,
    eventId,
    sender,
    body: event.replyEventId ? withoutReplyFallback(content.body) : content.body,
    sentAt: event.getTs(),
    ...(event.threadRootId ? { threadRoot: event.threadRootId } : {}),
  };
}

/** Older clients start a reply's body with the message replied to, quoted in "> " lines, and a
 * blank line (the reply fallback); what was said, a command or chat, follows it. */
function withoutReplyFallback(body: string): string {
  const quote = /^(?:>[^\n]*\n)+\n/.exec(body);
  return quote ? body.slice(quote[0].length) : body;
}

export async function startBot(config: BotConfig, log: Logger): Promise<MatrixRuntime> {
  // The loop's parts that can fail on their own (policy, runner, agent) start before Matrix does.
  const prepared = config.loop ? await prepareLoop(config.loop, config.dataDir, log.child("loop")) : undefined;
  let loop: Loop | undefined;
  let runtime: MatrixRuntime;
  try {
    runtime = await startMatrix({
      config,
      log: log.child("matrix"),
      makeHandler: ({ client, messenger, userId }) => {
        loop = prepared?.attach({ client, messenger, userId });
        const router = createRouter({
          commands: [...commandTable, ...(loop?.commands ?? [])],
          reply: async (message, markdown) => {
            // In a thread the answer stays there; elsewhere it quotes the message it answers.
            await messenger.sendMarkdown(
              message.roomId,
              markdown,
              message.threadRoot ? { threadRoot: message.threadRoot } : { replyTo: message.eventId },
            );
          },
          chat: async (message) => {
            if (loop) return loop.chat(message);
            await messenger.sendMarkdown(message.roomId, noAgent, { replyTo: message.eventId, notice: true });
          },
        });
        return async (event, room) => {
          if (loop && (await loop.onEvent(event, room))) return;
          const message = toIncomingMessage(event, room);
          if (!message) return;
          log.debug("message", { roomId: message.roomId, eventId: message.eventId, sender: message.sender });
          await router.route(message);
        };
      },
    });
  } catch (e) {
    await prepared?.abandon();
    throw e;
  }
  if (!loop) return runtime;
  const started = loop;
  await started.start();
  return {
    ...runtime,
    async stop(deadlineMs) {
      await runtime.stop(deadlineMs);
      await started.stop();
    },
  };
}

const noAgent = "No agent is configured, so I only answer commands (`!help`). To talk to a coding agent here, add an `agent` section to pocketcoder.yaml (see the README).";

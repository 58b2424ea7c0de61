// The bot process's core: the Matrix runtime with the chat router behind it. Later parts (agent,
// approvals, scheduler) plug in here, each through the narrow interface it needs.
import { EventType, MsgType, RelationType, type MatrixEvent, type Room } from "matrix-js-sdk";
import { commandTable } from "./chat/commands.ts";
import { createRouter, type IncomingMessage } from "./chat/router.ts";
import type { BotConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { startMatrix, type MatrixRuntime } from "./matrix/matrix-runtime.ts";

/** A text message worth routing, or null (edits, notices, other bots' m.notice, non-text). */
export function toIncomingMessage(event: MatrixEvent, room: Room): IncomingMessage | null {
  if (event.getType() !== EventType.RoomMessage) return null;
  const content = event.getContent();
  if (content.msgtype !== MsgType.Text || typeof content.body !== "string") return null;
  if (event.getRelation()?.rel_type === RelationType.Replace) return null;
  const eventId = event.getId();
  const sender = event.getSender();
  if (!eventId || !sender) return null;
  return {
    roomId: room.roomId,
    eventId,
    sender,
    body: content.body,
    sentAt: event.getTs(),
    ...(event.threadRootId ? { threadRoot: event.threadRootId } : {}),
  };
}

export async function startBot(config: BotConfig, log: Logger): Promise<MatrixRuntime> {
  return startMatrix({
    config,
    log: log.child("matrix"),
    makeHandler: ({ messenger }) => {
      const router = createRouter({
        commands: commandTable,
        reply: async (message, markdown) => {
          // In a thread the answer stays there; elsewhere it quotes the message it answers.
          await messenger.sendMarkdown(
            message.roomId,
            markdown,
            message.threadRoot ? { threadRoot: message.threadRoot } : { replyTo: message.eventId },
          );
        },
        // Issue 5 routes ordinary messages to the room's agent session.
        chat: async () => {},
      });
      return async (event, room) => {
        const message = toIncomingMessage(event, room);
        if (!message) return;
        log.debug("message", { roomId: message.roomId, eventId: message.eventId, sender: message.sender });
        await router.route(message);
      };
    },
  });
}

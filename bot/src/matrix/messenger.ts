// The sending primitives everything else builds on: formatted messages with mentions, edits,
// reactions, thread replies and file uploads (encrypted in encrypted rooms). Each returns the
// id of the event it sent.
import { EventStatus, EventType, MsgType, RelationType, type MatrixClient } from "matrix-js-sdk";
import type { RoomMessageEventContent } from "matrix-js-sdk/lib/@types/events.js";
import { encryptAttachment } from "./attachment-crypto.ts";
import { renderMarkdown, type RenderedMessage } from "./markdown.ts";
import { waitForRoomReady } from "./room-ready.ts";

export interface SendOptions {
  /** Send into this thread (with the reply fallback Element X needs without thread support). */
  threadRoot?: string;
  /** User ids to mention: they get a pill and a notification (`m.mentions`). */
  mentions?: string[];
  /** Show as a reply to this event (ignored inside a thread, where the fallback decides). */
  replyTo?: string;
  /** m.notice instead of m.text: shown dimmed and does not notify. */
  notice?: boolean;
}

export interface Messenger {
  sendMarkdown(roomId: string, markdown: string, opts?: SendOptions): Promise<string>;
  edit(roomId: string, eventId: string, markdown: string, opts?: Pick<SendOptions, "mentions" | "notice">): Promise<string>;
  react(roomId: string, eventId: string, key: string): Promise<string>;
  replyInThread(roomId: string, rootId: string, markdown: string, opts?: Omit<SendOptions, "threadRoot">): Promise<string>;
  uploadFile(roomId: string, name: string, bytes: Uint8Array, mime: string, opts?: Pick<SendOptions, "threadRoot">): Promise<string>;
}

type Content = Record<string, unknown>;

export function createMessenger(client: MatrixClient): Messenger {
  /** The newest event of the thread the bot knows of, for the reply fallback; else the root. */
  const latestInThread = (roomId: string, rootId: string): string => {
    const events = client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? [];
    for (let i = events.length - 1; i >= 0; i--) {
      const ev = events[i]!;
      // Sent events only: a local echo still queued has no final id yet.
      const sent = ev.status === null || ev.status === EventStatus.SENT;
      if (ev.threadRootId === rootId && sent && ev.getId()) return ev.getId()!;
    }
    return rootId;
  };

  const relation = (roomId: string, opts: SendOptions): Content => {
    if (opts.threadRoot) {
      return {
        "m.relates_to": {
          rel_type: RelationType.Thread,
          event_id: opts.threadRoot,
          is_falling_back: true,
          "m.in_reply_to": { event_id: latestInThread(roomId, opts.threadRoot) },
        },
      };
    }
    return opts.replyTo ? { "m.relates_to": { "m.in_reply_to": { event_id: opts.replyTo } } } : {};
  };

  const send = async (roomId: string, threadRoot: string | undefined, content: Content): Promise<string> => {
    await waitForRoomReady(client, roomId);
    const res = await client.sendEvent(roomId, threadRoot ?? null, EventType.RoomMessage, content as unknown as RoomMessageEventContent);
    return res.event_id;
  };

  const messageContent = (rendered: RenderedMessage, opts: SendOptions): Content => ({
    msgtype: opts.notice ? MsgType.Notice : MsgType.Text,
    ...rendered,
    "m.mentions": opts.mentions?.length ? { user_ids: [...new Set(opts.mentions)] } : {},
  });

  const messenger: Messenger = {
    sendMarkdown: (roomId, markdown, opts = {}) =>
      send(roomId, opts.threadRoot, { ...messageContent(renderMarkdown(markdown, opts.mentions), opts), ...relation(roomId, opts) }),

    edit: (roomId, eventId, markdown, opts = {}) => {
      const rendered = renderMarkdown(markdown, opts.mentions);
      const fresh = messageContent(rendered, opts);
      return send(roomId, undefined, {
        msgtype: fresh.msgtype,
        body: `* ${rendered.body}`,
        ...(rendered.formatted_body ? { format: rendered.format, formatted_body: `* ${rendered.formatted_body}` } : {}),
        // Mentions on the edit itself would notify again; they belong to the new content only.
        "m.mentions": {},
        "m.new_content": fresh,
        "m.relates_to": { rel_type: RelationType.Replace, event_id: eventId },
      });
    },

    react: async (roomId, eventId, key) => {
      await waitForRoomReady(client, roomId);
      const res = await client.sendEvent(roomId, EventType.Reaction, {
        "m.relates_to": { rel_type: RelationType.Annotation, event_id: eventId, key },
      });
      return res.event_id;
    },

    replyInThread: (roomId, rootId, markdown, opts = {}) => messenger.sendMarkdown(roomId, markdown, { ...opts, threadRoot: rootId }),

    uploadFile: async (roomId, name, bytes, mime, opts = {}) => {
      const encrypted = (await waitForRoomReady(client, roomId)).hasEncryptionStateEvent();
      const info = { mimetype: mime, size: bytes.byteLength };
      const base = { msgtype: MsgType.File, body: name, filename: name, info };
      let content: Content;
      if (encrypted) {
        // The server sees only ciphertext, without the name or type.
        const { ciphertext, info: fileInfo } = encryptAttachment(bytes);
        const up = await client.uploadContent(Buffer.from(ciphertext), { type: "application/octet-stream", includeFilename: false });
        content = { ...base, file: { url: up.content_uri, ...fileInfo } };
      } else {
        const up = await client.uploadContent(Buffer.from(bytes), { name, type: mime });
        content = { ...base, url: up.content_uri };
      }
      return send(roomId, opts.threadRoot, { ...content, ...relation(roomId, opts) });
    },
  };
  return messenger;
}

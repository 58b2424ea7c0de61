// A test user: a matrix-js-sdk 43 client with Rust (WASM) crypto, as Element Web is, registered on the
// throwaway Synapse. Tests drive it (rooms, messages, reactions, threads, cross-signing) and wait for
// events with `waitForEvent` / `waitForMessage`, which see events that arrived before the call.
import "../../bot/src/polyfill.ts";
import { LoggerLevel, Tracing } from "@matrix-org/matrix-sdk-crypto-wasm";
import {
  ClientEvent,
  createClient,
  EventType,
  MatrixError,
  MatrixEventEvent,
  MsgType,
  Preset,
  RelationType,
  SyncState,
  type ICreateRoomOpts,
  type MatrixClient,
  type MatrixEvent,
  type TimelineEvents,
} from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { registerUser } from "../../scripts/lib/homeserver.ts";
import type { TestHomeserver } from "./synapse-global-setup.ts";

// The SDK logs every sync and key upload at debug/info; tests only want problems. Child loggers set
// their own level to debug but copy their parent's method factory, so filter in the factory.
// One warning is left out too: a thread's timeline set declining an event of another thread, which
// the SDK reports for every threaded reply the bot posts (hundreds of lines in a bench run).
type MethodFactory = (method: string, level: number, name: string | symbol) => (...args: unknown[]) => void;
const rootLogger = logger as unknown as { methodFactory: MethodFactory; setLevel(level: string): void; rebuild(): void };
const loudFactory = rootLogger.methodFactory;
const threadTimelineNoise = "EventTimelineSet.addEventToTimeline: Ignoring event=";
rootLogger.methodFactory = (method, level, name) => {
  if (method !== "warn" && method !== "error") return () => undefined;
  const write = loudFactory(method, level, name);
  // A method, not an arrow: the SDK's own factory reads the calling logger's prefix from `this`.
  return function (this: unknown, ...args: unknown[]) {
    if (typeof args[0] === "string" && args[0].startsWith(threadTimelineNoise)) return;
    write.apply(this, args);
  };
};
rootLogger.setLevel("warn");
rootLogger.rebuild();
let tracingQuiet = false;

/** The homeserver of this test run (provided by testkit/src/synapse-global-setup.ts). */
export function testHomeserver(): TestHomeserver {
  return inject("homeserver");
}

export interface TestUserOptions {
  admin?: boolean;
  /** Bootstrap cross-signing so the device is signed by its owner, as Element does at sign-up. Default true. */
  crossSign?: boolean;
}

export interface CreateRoomOptions {
  encrypted?: boolean;
  invite?: string[];
  name?: string;
  powerLevels?: ICreateRoomOpts["power_level_content_override"];
}

/** A string matches when the body contains it; a RegExp when it matches the body. */
export type TextMatcher = string | RegExp | ((body: string, event: MatrixEvent) => boolean);

export interface WaitForMessageOptions {
  timeoutMs?: number;
  /** Only messages from this user; default: anyone but this test user. */
  sender?: string;
}

interface Entry {
  event: MatrixEvent;
  /** Decryption was attempted (it may have failed; a late key re-checks through `Decrypted`). */
  ready: boolean;
}

const defaultTimeoutMs = 30_000;

export class TestUser {
  readonly userId: string;
  readonly deviceId: string;
  readonly password: string;
  readonly client: MatrixClient;
  private readonly rooms = new Map<string, Entry[]>();
  /** Per room: index after the last event a wait returned. Waits look from there on. */
  private readonly cursors = new Map<string, number>();
  private readonly seen = new Set<string>();
  private readonly wakeups = new Set<() => void>();

  constructor(client: MatrixClient, userId: string, deviceId: string, password: string) {
    this.client = client;
    this.userId = userId;
    this.deviceId = deviceId;
    this.password = password;
    client.on(ClientEvent.Event, (event) => this.record(event));
    client.on(MatrixEventEvent.Decrypted, () => this.wake());
  }

  private record(event: MatrixEvent): void {
    const roomId = event.getRoomId();
    const eventId = event.getId();
    if (!roomId || !eventId || this.seen.has(eventId)) return;
    this.seen.add(eventId);
    const entry: Entry = { event, ready: false };
    const list = this.rooms.get(roomId) ?? [];
    list.push(entry);
    this.rooms.set(roomId, list);
    void this.client
      .decryptEventIfNeeded(event)
      .catch(() => undefined)
      .finally(() => {
        entry.ready = true;
        this.wake();
      });
  }

  private wake(): void {
    for (const wakeup of this.wakeups) wakeup();
  }

  /**
   * Resolves with the first event in `roomId` matching `predicate` among those received since the
   * event the previous wait in this room returned (so a reply that arrived before the call counts).
   * Events are decrypted before the predicate sees them, and seen in arrival order.
   */
  waitForEvent(roomId: string, predicate: (event: MatrixEvent) => boolean, timeoutMs = defaultTimeoutMs): Promise<MatrixEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const list = this.rooms.get(roomId) ?? [];
        for (let i = this.cursors.get(roomId) ?? 0; i < list.length; i++) {
          const entry = list[i]!;
          if (!entry.ready) return; // keep arrival order: wait for its decryption
          if (predicate(entry.event)) {
            this.cursors.set(roomId, i + 1);
            done();
            resolve(entry.event);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.userId}: no matching event in ${roomId} within ${timeoutMs} ms; latest:\n${this.describeRecent(roomId)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.wakeups.delete(check);
      };
      this.wakeups.add(check);
      check();
    });
  }

  /** Skips everything received so far in the room: the next wait sees only newer events. */
  skipPending(roomId: string): void {
    this.cursors.set(roomId, this.rooms.get(roomId)?.length ?? 0);
  }

  /** Waits for an `m.room.message`; an edit is matched by its new content. */
  waitForMessage(roomId: string, text: TextMatcher, opts: WaitForMessageOptions = {}): Promise<MatrixEvent> {
    return this.waitForEvent(
      roomId,
      (event) => {
        if (event.getType() !== EventType.RoomMessage) return false;
        const sender = event.getSender();
        if (opts.sender ? sender !== opts.sender : sender === this.userId) return false;
        const body = messageBody(event);
        return body !== undefined && matches(text, body, event);
      },
      opts.timeoutMs,
    );
  }

  private describeRecent(roomId: string): string {
    const list = this.rooms.get(roomId) ?? [];
    const lines = list.slice(-8).map(({ event }) => {
      const body = messageBody(event);
      const failure = event.isDecryptionFailure() ? ` (UTD: ${event.decryptionFailureReason})` : "";
      return `  ${event.getSender()} ${event.getType()}${body === undefined ? "" : ` ${JSON.stringify(body.slice(0, 120))}`}${failure}`;
    });
    return lines.join("\n") || "  (nothing received in this room)";
  }

  /** Creates a room (encrypted unless told otherwise) and resolves once this client knows it. */
  async createRoom(opts: CreateRoomOptions = {}): Promise<string> {
    const encrypted = opts.encrypted ?? true;
    const { room_id: roomId } = await this.client.createRoom({
      preset: Preset.PrivateChat,
      invite: opts.invite ?? [],
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.powerLevels ? { power_level_content_override: opts.powerLevels } : {}),
      initial_state: encrypted
        ? [{ type: EventType.RoomEncryption, state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }]
        : [],
    });
    await this.waitForRoom(roomId, encrypted);
    return roomId;
  }

  private async waitForRoom(roomId: string, encrypted: boolean, timeoutMs = defaultTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const crypto = this.client.getCrypto()!;
    while (Date.now() < deadline) {
      if (this.client.getRoom(roomId) && (!encrypted || (await crypto.isEncryptionEnabledInRoom(roomId)))) return;
      await sleep(50);
    }
    throw new Error(`${this.userId}: room ${roomId} did not arrive through sync within ${timeoutMs} ms`);
  }

  async invite(roomId: string, userId: string): Promise<void> {
    await this.client.invite(roomId, userId);
  }

  /** Resolves with the id of a room this user is invited to (`roomId` if given); invites carry no event ids. */
  async waitForInvite(roomId?: string, timeoutMs = defaultTimeoutMs): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const room = this.client.getRooms().find((r) => r.getMyMembership() === "invite" && (!roomId || r.roomId === roomId));
      if (room) return room.roomId;
      await sleep(50);
    }
    throw new Error(`${this.userId}: no invite${roomId ? ` to ${roomId}` : ""} within ${timeoutMs} ms`);
  }

  async join(roomId: string): Promise<void> {
    await this.client.joinRoom(roomId);
    await this.waitForRoom(roomId, false);
  }

  /** Resolves when `userId` has `membership` ("join" by default) in the room. */
  waitForMembership(roomId: string, userId: string, membership = "join", timeoutMs = defaultTimeoutMs): Promise<MatrixEvent> {
    return this.waitForEvent(
      roomId,
      (event) =>
        event.getType() === EventType.RoomMember && event.getStateKey() === userId && event.getContent().membership === membership,
      timeoutMs,
    );
  }

  /** Sends a plain-text message (encrypted in encrypted rooms); returns its event id. */
  async sendText(roomId: string, body: string): Promise<string> {
    return (await this.client.sendMessage(roomId, { msgtype: MsgType.Text, body })).event_id;
  }

  /** Reacts as Element does (an unencrypted `m.reaction` annotation); returns its event id. */
  async react(roomId: string, eventId: string, key: string): Promise<string> {
    const content = { "m.relates_to": { rel_type: RelationType.Annotation, event_id: eventId, key } };
    return (await this.client.sendEvent(roomId, EventType.Reaction, content as TimelineEvents[EventType.Reaction])).event_id;
  }

  async redact(roomId: string, eventId: string): Promise<string> {
    return (await this.client.redactEvent(roomId, eventId)).event_id;
  }

  /** Replies in the thread of `rootId` with the reply fallback Element sends; returns the event id. */
  async replyInThread(roomId: string, rootId: string, body: string, inReplyTo = rootId): Promise<string> {
    const content = {
      msgtype: MsgType.Text,
      body,
      "m.relates_to": { rel_type: RelationType.Thread, event_id: rootId, is_falling_back: true, "m.in_reply_to": { event_id: inReplyTo } },
    };
    return (await this.client.sendMessage(roomId, rootId, content as TimelineEvents[EventType.RoomMessage])).event_id;
  }

  /** Creates and uploads this user's cross-signing keys and signs the current device with them. */
  async bootstrapCrossSigning(): Promise<void> {
    await this.client.getCrypto()!.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: async (makeRequest) => {
        try {
          await makeRequest(null);
        } catch (error) {
          // Synapse lets a first upload through without auth; otherwise answer the password stage.
          const session = error instanceof MatrixError && error.httpStatus === 401 ? error.data.session : undefined;
          if (typeof session !== "string") throw error;
          await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: this.userId }, password: this.password, session });
        }
      },
    });
  }

  /** Whether `userId`'s device is signed by that user's own cross-signing key, as this user sees it now. */
  async deviceIsCrossSignedByOwner(userId: string, deviceId: string): Promise<boolean> {
    const crypto = this.client.getCrypto()!;
    await crypto.getUserDeviceInfo([userId], true);
    return (await crypto.getDeviceVerificationStatus(userId, deviceId))?.signedByOwner ?? false;
  }

  stop(): void {
    this.client.stopClient();
    this.wakeups.clear();
  }
}

/** Body of a message; for an edit, the body of its new content. */
export function messageBody(event: MatrixEvent): string | undefined {
  const content = event.getContent();
  const newContent = content["m.new_content"] as { body?: unknown } | undefined;
  const body = newContent?.body ?? content.body;
  return typeof body === "string" ? body : undefined;
}

function matches(text: TextMatcher, body: string, event: MatrixEvent): boolean {
  if (typeof text === "string") return body.includes(text);
  if (text instanceof RegExp) return text.test(body);
  return text(body, event);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Registers `<localpart>-<random>` (unique across the test files sharing the homeserver), starts its
 * client with Rust crypto in memory, waits for the first sync and, unless told not to, cross-signs it.
 */
export async function createTestUser(hs: TestHomeserver, localpart: string, opts: TestUserOptions = {}): Promise<TestUser> {
  const password = randomBytes(12).toString("hex");
  const session = await registerUser(hs.baseUrl, hs.sharedSecret, {
    localpart: `${localpart}-${randomBytes(3).toString("hex")}`,
    password,
    admin: opts.admin ?? false,
  });
  const client = createClient({
    baseUrl: hs.baseUrl,
    userId: session.userId,
    deviceId: session.deviceId,
    accessToken: session.accessToken,
  });
  await client.initRustCrypto({ useIndexedDB: false });
  if (!tracingQuiet) {
    new Tracing(LoggerLevel.Warn).turnOn();
    tracingQuiet = true;
  }
  const user = new TestUser(client, session.userId, session.deviceId, password);
  const synced = new Promise<void>((resolve) => {
    const onSync = (state: SyncState) => {
      if (state !== SyncState.Prepared && state !== SyncState.Syncing) return;
      client.off(ClientEvent.Sync, onSync);
      resolve();
    };
    client.on(ClientEvent.Sync, onSync);
  });
  await client.startClient({ initialSyncLimit: 20, threadSupport: true });
  await synced;
  if (opts.crossSign ?? true) await user.bootstrapCrossSigning();
  return user;
}

// Acting on invites: join when the inviter is allowed; in a room without encryption (unless that
// is allowed) say why, then leave. Invites are handled one at a time, in the order they came.
import { RoomEvent, type MatrixClient, type Room } from "matrix-js-sdk";
import type { Logger } from "../log.ts";
import type { InFlight } from "./in-flight.ts";
import { inviterAllowed, type InvitePolicy } from "./invite-policy.ts";
import { waitForRoomReady } from "./room-ready.ts";

export interface InviteOptions {
  client: MatrixClient;
  ownUserId: string;
  policy: InvitePolicy;
  allowUnencrypted: boolean;
  inFlight: InFlight;
  ready: Promise<void>;
  log: Logger;
}

export const unencryptedRefusal =
  "I only work in end-to-end encrypted rooms, so I am leaving this one. " +
  "Create a room with encryption turned on (Element's default for private rooms) and invite me there.";

async function roomIsEncrypted(client: MatrixClient, roomId: string): Promise<boolean> {
  try {
    await client.getStateEvent(roomId, "m.room.encryption", "");
    return true;
  } catch (e) {
    if ((e as { errcode?: string }).errcode === "M_NOT_FOUND") return false;
    throw e;
  }
}

export function startInviteHandling(opts: InviteOptions): { stop(): void } {
  const { client, log } = opts;
  const handled = new Set<string>();
  let queue: Promise<void> = Promise.resolve();

  const inviterOf = (room: Room) => room.currentState.getMember(opts.ownUserId)?.events.member?.getSender();

  const handleInvite = async (room: Room) => {
    if (room.getMyMembership() !== "invite") return;
    const inviter = inviterOf(room);
    if (!inviter || !inviterAllowed(inviter, opts.policy)) {
      log.info("ignoring invite from a user who is not allowed", { roomId: room.roomId, inviter });
      return;
    }
    await client.joinRoom(room.roomId);
    if (!opts.allowUnencrypted && !(await roomIsEncrypted(client, room.roomId))) {
      log.info("leaving unencrypted room", { roomId: room.roomId, inviter });
      await waitForRoomReady(client, room.roomId);
      await client.sendNotice(room.roomId, unencryptedRefusal);
      await client.leave(room.roomId);
      return;
    }
    log.info("joined room", { roomId: room.roomId, inviter });
  };

  const enqueue = (room: Room) => {
    if (handled.has(room.roomId)) return;
    handled.add(room.roomId);
    const next = queue.then(async () => {
      await opts.ready;
      await handleInvite(room);
    });
    queue = next.catch(() => {});
    opts.inFlight.run("invite", () => next);
  };

  const onMembership = (room: Room, membership: string) => {
    if (membership === "invite") enqueue(room);
    else handled.delete(room.roomId);
  };
  client.on(RoomEvent.MyMembership, onMembership);
  // Invites that were already pending when the bot started (replayed from the sync cache).
  opts.ready.then(
    () => {
      for (const room of client.getRooms()) if (room.getMyMembership() === "invite") enqueue(room);
    },
    () => {},
  );
  return { stop: () => client.off(RoomEvent.MyMembership, onMembership) };
}

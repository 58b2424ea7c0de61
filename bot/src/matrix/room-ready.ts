// A room the bot can send to: joined, and its state arrived through sync, so the crypto knows
// whether to encrypt. Right after a join the server says "joined" before the bot's own sync has
// brought the room's state; sending then fails ("Cannot encrypt event in unconfigured room"), and
// deciding "not encrypted" then would be wrong. Checked again after every sync.
import { ClientEvent, EventType, type MatrixClient, type Room } from "matrix-js-sdk";

async function isReady(client: MatrixClient, roomId: string): Promise<Room | null> {
  const room = client.getRoom(roomId);
  if (!room || room.getMyMembership() !== "join") return null;
  if (!room.currentState.getStateEvents(EventType.RoomCreate, "")) return null;
  if (room.hasEncryptionStateEvent() && !(await client.getCrypto()?.isEncryptionEnabledInRoom(roomId))) return null;
  return room;
}

export async function waitForRoomReady(client: MatrixClient, roomId: string, timeoutMs = 30_000): Promise<Room> {
  const now = await isReady(client, roomId);
  if (now) return now;
  return new Promise<Room>((resolve, reject) => {
    let checking = false;
    const onSync = async () => {
      if (checking) return;
      checking = true;
      const room = await isReady(client, roomId).finally(() => (checking = false));
      if (room) finish(() => resolve(room));
    };
    const timer = setTimeout(() => finish(() => reject(new Error(`room ${roomId} is not joined and synced after ${timeoutMs} ms`))), timeoutMs);
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      client.off(ClientEvent.Sync, onSync);
      settle();
    };
    client.on(ClientEvent.Sync, onSync);
  });
}

// The engine's Matrix-side ports built from a MatrixClient: the room as it is now (membership and
// power levels from current state), vote authenticity (notes matrix-e2ee.md §9: encrypted, shield
// NONE, device cross-signed by its owner), and reactions/redactions turned into plain inputs.
import { EventShieldColour } from "matrix-js-sdk/lib/crypto-api/index.js";
import { EventType, RelationType, type MatrixClient, type MatrixEvent, type Room } from "matrix-js-sdk";
import type { ReactionInput, RedactionInput, RoomState, VoteAuth } from "./ports.ts";

export function roomStateOf(client: MatrixClient, roomId: string): RoomState {
  const room = client.getRoom(roomId);
  const levels = (room?.currentState.getStateEvents(EventType.RoomPowerLevels, "")?.getContent() ?? {}) as {
    users?: Record<string, number>;
    users_default?: number;
  };
  const joined = new Set(room?.getJoinedMembers().map((m) => m.userId) ?? []);
  return {
    isJoined: (userId) => joined.has(userId),
    // The member's level as the SDK computes it (room creators rank highest from room version 12 on);
    // a user the room has no member event for gets the power-levels event's default.
    powerLevel: (userId) => room?.getMember(userId)?.powerLevel ?? levels.users?.[userId] ?? levels.users_default ?? 0,
    members: () => [...joined],
  };
}

const notVerified = (event: MatrixEvent | undefined, device: string | null = null): VoteAuth => ({
  encrypted: event?.isEncrypted() ?? false,
  verifiedDevice: false,
  device,
});

/** The device whose session key decrypted the event. Not the `device_id` in its wire content,
 * which the sender writes as they please and would put any device's name in the audit. */
async function senderDevice(client: MatrixClient, event: MatrixEvent): Promise<string | null> {
  const key = event.getSenderKey();
  const sender = event.getSender();
  if (!key || !sender) return null;
  const devices = (await client.getCrypto()?.getUserDeviceInfo([sender]))?.get(sender);
  for (const [id, device] of devices ?? []) if (device.getIdentityKey() === key) return id;
  return null;
}

/** Whether the event `eventId` was sent encrypted from a device its owner cross-signed. */
export async function voteAuthOf(client: MatrixClient, roomId: string, eventId: string): Promise<VoteAuth> {
  const event = client.getRoom(roomId)?.findEventById(eventId);
  const crypto = client.getCrypto();
  if (!event || !crypto || !event.isEncrypted() || event.isDecryptionFailure()) return notVerified(event);
  const device = await senderDevice(client, event);
  const info = await crypto.getEncryptionInfoForEvent(event);
  if (!info || info.shieldColour !== EventShieldColour.NONE || !device) return notVerified(event, device);
  const status = await crypto.getDeviceVerificationStatus(event.getSender()!, device);
  return { encrypted: true, verifiedDevice: status?.signedByOwner === true, device };
}

/** An annotation (`m.reaction`) as a ReactionInput, or null. */
export function reactionInput(event: MatrixEvent, room: Room): ReactionInput | null {
  if (event.getType() !== EventType.Reaction) return null;
  const rel = event.getRelation();
  const eventId = event.getId();
  const sender = event.getSender();
  if (rel?.rel_type !== RelationType.Annotation || !rel.event_id || typeof rel.key !== "string" || !eventId || !sender) return null;
  return { roomId: room.roomId, eventId, sender, targetEventId: rel.event_id, key: rel.key, encrypted: event.isEncrypted(), originTs: event.getTs() };
}

/** An `m.room.redaction` as a RedactionInput, or null. */
export function redactionInput(event: MatrixEvent, room: Room): RedactionInput | null {
  if (event.getType() !== EventType.RoomRedaction) return null;
  const redacts = event.event.redacts ?? (event.getContent()["redacts"] as string | undefined);
  const eventId = event.getId();
  const sender = event.getSender();
  if (typeof redacts !== "string" || !eventId || !sender) return null;
  return { roomId: room.roomId, eventId, sender, redacts };
}

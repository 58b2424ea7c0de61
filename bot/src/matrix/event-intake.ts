// Live room events in, each handled at most once: skips history, cache replays and the bot's own
// events, waits until the bot is ready, decrypts (and tries again when a late key arrives), and
// claims the event id in the state database before handing it on (notes/matrix-e2ee.md §5, §6).
import { MatrixEventEvent, RoomEvent, type MatrixClient, type MatrixEvent, type Room } from "matrix-js-sdk";
import type { Logger } from "../log.ts";
import type { InFlight } from "./in-flight.ts";
import type { SeenEvents } from "./seen-events.ts";

export type EventHandler = (event: MatrixEvent, room: Room) => Promise<void>;

export interface EventIntakeOptions {
  client: MatrixClient;
  ownUserId: string;
  seen: SeenEvents;
  inFlight: InFlight;
  /** Resolves once the first live sync and the crypto bootstrap are done. */
  ready: Promise<void>;
  handle: EventHandler;
  log: Logger;
}

export function startEventIntake(opts: EventIntakeOptions): { stop(): void } {
  const { client, seen, inFlight, log } = opts;

  const process = async (event: MatrixEvent, room: Room): Promise<void> => {
    await opts.ready;
    await client.decryptEventIfNeeded(event);
    if (event.isDecryptionFailure()) {
      log.warn("cannot decrypt event yet; will retry when its key arrives", {
        roomId: room.roomId,
        eventId: event.getId(),
        reason: event.decryptionFailureReason,
      });
      const retry = () => {
        if (event.isDecryptionFailure()) return;
        event.off(MatrixEventEvent.Decrypted, retry);
        inFlight.run("event", () => process(event, room));
      };
      event.on(MatrixEventEvent.Decrypted, retry);
      return;
    }
    const eventId = event.getId();
    if (!eventId || event.isRedacted()) return;
    if (!seen.claim(eventId, room.roomId)) {
      log.debug("event already handled", { roomId: room.roomId, eventId });
      return;
    }
    await opts.handle(event, room);
  };

  const onTimeline = (
    event: MatrixEvent,
    room: Room | undefined,
    toStartOfTimeline: boolean | undefined,
    removed: boolean,
    data: { liveEvent?: boolean },
  ) => {
    if (toStartOfTimeline || removed || !data.liveEvent || !room) return;
    if (event.isState() || event.getSender() === opts.ownUserId) return;
    inFlight.run("event", () => process(event, room));
  };

  client.on(RoomEvent.Timeline, onTimeline);
  return { stop: () => client.off(RoomEvent.Timeline, onTimeline) };
}

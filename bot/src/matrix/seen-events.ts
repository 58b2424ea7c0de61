// The bot's small state database: ids of events it has taken on, so an event replayed after a
// restart (the sync store saves its position only every few minutes) is never handled twice.
import Database from "better-sqlite3";

const migrations: string[] = [
  `CREATE TABLE seen_events (
     event_id TEXT PRIMARY KEY,
     room_id  TEXT NOT NULL,
     seen_at  INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX seen_events_seen_at ON seen_events (seen_at);`,
];

/** Long past any replay window; keeps the table small. */
const keepMs = 30 * 24 * 3600 * 1000;

export interface SeenEvents {
  /** True if this call is the first to claim the event; false if it was claimed before. */
  claim(eventId: string, roomId: string): boolean;
  close(): void;
}

export function openSeenEvents(path: string, now: () => number = Date.now): SeenEvents {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  const version = db.pragma("user_version", { simple: true }) as number;
  db.transaction(() => {
    for (let v = version; v < migrations.length; v++) db.exec(migrations[v]!);
    db.pragma(`user_version = ${migrations.length}`);
  })();
  db.prepare("DELETE FROM seen_events WHERE seen_at < ?").run(now() - keepMs);
  const insert = db.prepare("INSERT OR IGNORE INTO seen_events (event_id, room_id, seen_at) VALUES (?, ?, ?)");
  return {
    claim: (eventId, roomId) => insert.run(eventId, roomId, now()).changes === 1,
    close: () => db.close(),
  };
}

// Room ↔ project folder ↔ OpenCode session, persisted in the ledger's database (table
// room_bindings, migration 2) so a restart finds every room's session again. Each (re)binding is
// also appended to the audit chain: requests name a session, and the chain says which room and
// project that session served.
import type { Ledger } from "../ledger/ledger.ts";

export interface RoomBinding {
  roomId: string;
  /** The project's name: its folder's name in the workspace. */
  project: string;
  /** Absolute path of the project folder (the session's directory). */
  directory: string;
  sessionId: string;
  /** Who caused the binding (first message in the room, or `!new`). */
  boundBy: string;
  boundAt: number;
}

type Row = { room_id: string; project: string; directory: string; session_id: string; bound_by: string; bound_at: number };

const toBinding = (r: Row): RoomBinding => ({
  roomId: r.room_id,
  project: r.project,
  directory: r.directory,
  sessionId: r.session_id,
  boundBy: r.bound_by,
  boundAt: r.bound_at,
});

export class RoomBindings {
  private readonly byRoom;
  private readonly bySessionStmt;
  private readonly allStmt;
  private readonly upsert;

  constructor(
    private readonly ledger: Ledger,
    private readonly now: () => number = Date.now,
  ) {
    const db = ledger.db;
    this.byRoom = db.prepare<[string], Row>("SELECT * FROM room_bindings WHERE room_id = ?");
    this.bySessionStmt = db.prepare<[string], Row>("SELECT * FROM room_bindings WHERE session_id = ?");
    this.allStmt = db.prepare<[], Row>("SELECT * FROM room_bindings ORDER BY bound_at");
    this.upsert = db.prepare<[string, string, string, string, string, number]>(
      `INSERT INTO room_bindings (room_id, project, directory, session_id, bound_by, bound_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (room_id) DO UPDATE SET project = excluded.project, directory = excluded.directory,
         session_id = excluded.session_id, bound_by = excluded.bound_by, bound_at = excluded.bound_at`,
    );
  }

  get(roomId: string): RoomBinding | null {
    const row = this.byRoom.get(roomId);
    return row ? toBinding(row) : null;
  }

  bySession(sessionId: string): RoomBinding | null {
    const row = this.bySessionStmt.get(sessionId);
    return row ? toBinding(row) : null;
  }

  all(): RoomBinding[] {
    return this.allStmt.all().map(toBinding);
  }

  /** Binds (or rebinds) the room, with a `room.bind` audit entry in the same transaction. */
  bind(b: Omit<RoomBinding, "boundAt">): RoomBinding {
    const boundAt = this.now();
    return this.ledger.atomically(() => {
      const previous = this.get(b.roomId);
      this.upsert.run(b.roomId, b.project, b.directory, b.sessionId, b.boundBy, boundAt);
      this.ledger.append("room.bind", b.boundBy, {
        room: b.roomId,
        project: b.project,
        directory: b.directory,
        session: b.sessionId,
        previousSession: previous?.sessionId ?? null,
      });
      return { ...b, boundAt };
    });
  }
}

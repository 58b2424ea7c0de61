// Reading the chain back: export, tail, and the history of one request.
import type { AuditEntry } from "./audit-chain.ts";
import type { Db } from "./database.ts";

type Row = [number, number, string, string, string, string, string];
const columns = "seq, ts, actor, event, body, prev_hash, hash";

function toEntry(r: Row): AuditEntry {
  return { seq: r[0], ts: r[1], actor: r[2], event: r[3], body: r[4], prevHash: r[5], hash: r[6] };
}

/** Entries with seq > `since`, in order, streamed. */
export function* entriesSince(db: Db, since = 0): Generator<AuditEntry> {
  const rows = db.prepare(`SELECT ${columns} FROM audit WHERE seq > ? ORDER BY seq`).raw().iterate(since) as IterableIterator<Row>;
  for (const row of rows) yield toEntry(row);
}

/** The last `n` entries, oldest first. */
export function lastEntries(db: Db, n: number): AuditEntry[] {
  const rows = db.prepare(`SELECT ${columns} FROM audit ORDER BY seq DESC LIMIT ?`).raw().all(n) as Row[];
  return rows.reverse().map(toEntry);
}

/** Every entry about one request (creation, prompt, votes, decisions, execution), in order. Reads
 * back from the head only as far as the request's creation, so recent requests cost little however
 * long the chain, without an index that every append would have to write. */
export function requestHistory(db: Db, requestId: string): AuditEntry[] {
  const rows = db
    .prepare(
      `SELECT ${columns} FROM audit
       WHERE seq >= (SELECT seq FROM audit WHERE event = 'request.create' AND json_extract(body, '$.requestId') = @id ORDER BY seq DESC LIMIT 1)
         AND json_extract(body, '$.requestId') = @id
       ORDER BY seq`,
    )
    .raw()
    .all({ id: requestId }) as Row[];
  return rows.map(toEntry);
}

/** One entry as an export line: the body parsed back, keys as in the hashed encoding. */
export function exportLine(e: AuditEntry): string {
  return JSON.stringify({ seq: e.seq, ts: e.ts, actor: e.actor, event: e.event, body: JSON.parse(e.body) as unknown, prev_hash: e.prevHash, hash: e.hash });
}

// Appends to the hash chain. The entry hash is sha256 over the canonical JSON of
// {actor, body, event, prev_hash, seq, ts}; `body` is stored as its canonical JSON text, so the
// encoding can be rebuilt from a row by concatenation, without parsing (README: "The chain encoding").
import { hash } from "node:crypto";
import { canonicalJson } from "../canonical-json.ts";
import type { Sql } from "./statements.ts";

export const genesisHash = "0".repeat(64);

export interface ChainHead {
  /** 0 for an empty chain. */
  seq: number;
  /** The genesis hash (64 zeros) for an empty chain. */
  hash: string;
}

export interface AuditEntry {
  seq: number;
  ts: number;
  actor: string;
  event: string;
  /** The body's canonical JSON text, exactly as hashed. */
  body: string;
  prevHash: string;
  hash: string;
}

/** The canonical encoding of one entry. Every argument must already be what is stored. */
export function entryEncoding(seq: number, ts: number, actor: string, event: string, body: string, prevHash: string): string {
  return `{"actor":${JSON.stringify(actor)},"body":${body},"event":${JSON.stringify(event)},"prev_hash":"${prevHash}","seq":${seq},"ts":${ts}}`;
}

export function entryHash(seq: number, ts: number, actor: string, event: string, body: string, prevHash: string): string {
  return hash("sha256", entryEncoding(seq, ts, actor, event, body, prevHash));
}

export function readHead(sql: Sql): ChainHead {
  const row = sql("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").get() as ChainHead | undefined;
  return row ?? { seq: 0, hash: genesisHash };
}

export type Append = (ts: number, actor: string, event: string, body: unknown) => AuditEntry;

/** Appends entries for one connection. Call it inside the write transaction of the change it
 * records, so the change and its entry commit together or not at all. The head of this connection's
 * last append is kept rather than read back on every decision; when it is stale (another process
 * appended, or the transaction that wrote it rolled back) the chain trigger or the seq key refuses
 * the row, and the append reads the real head and tries again. */
export function chainAppender(sql: Sql): Append {
  let last: ChainHead | null = null;
  const insert = sql("INSERT INTO audit (seq, ts, actor, event, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)");
  const write = (head: ChainHead, ts: number, actor: string, event: string, text: string): AuditEntry => {
    const seq = head.seq + 1;
    const entry: AuditEntry = { seq, ts, actor, event, body: text, prevHash: head.hash, hash: entryHash(seq, ts, actor, event, text, head.hash) };
    insert.run(seq, ts, actor, event, text, head.hash, entry.hash);
    last = { seq, hash: entry.hash };
    return entry;
  };
  return (ts, actor, event, body) => {
    const text = canonicalJson(body);
    if (last) {
      try {
        return write(last, ts, actor, event, text);
      } catch (err) {
        if (!isStaleHead(err)) throw err;
      }
    }
    return write(readHead(sql), ts, actor, event, text);
  };
}

function isStaleHead(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === "SQLITE_CONSTRAINT_PRIMARYKEY" || (code === "SQLITE_CONSTRAINT_TRIGGER" && String((err as Error).message).includes("extend the chain head"));
}

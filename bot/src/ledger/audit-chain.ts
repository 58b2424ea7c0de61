// Appends to the hash chain. The entry hash is sha256 over the canonical JSON of
// {actor, body, event, prev_hash, seq, ts}; `body` is stored as its canonical JSON text, so the
// encoding can be rebuilt from a row by concatenation, without parsing (README: "The chain encoding").
import { hash } from "node:crypto";
import { canonicalJson } from "./canonical-json.ts";
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

/** Appends one entry. Call it inside the write transaction of the change it records, so the change
 * and its entry commit together or not at all. */
export function appendEntry(sql: Sql, ts: number, actor: string, event: string, body: unknown): AuditEntry {
  const head = readHead(sql);
  const seq = head.seq + 1;
  const text = canonicalJson(body);
  const entry: AuditEntry = { seq, ts, actor, event, body: text, prevHash: head.hash, hash: entryHash(seq, ts, actor, event, text, head.hash) };
  sql("INSERT INTO audit (seq, ts, actor, event, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)").run(seq, ts, actor, event, text, head.hash, entry.hash);
  return entry;
}

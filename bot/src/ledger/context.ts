// What every ledger operation works with: the connection, its statement cache, the bot's clock,
// and the audit append that must run inside the operation's own transaction.
import { type AuditEntry, appendEntry } from "./audit-chain.ts";
import { CanonicalJsonError } from "./canonical-json.ts";
import { type Db, writeTransactions } from "./database.ts";
import { AuditActor, AuditEventName, LedgerInputError, parseInput } from "./schemas.ts";
import { type Sql, statementCache } from "./statements.ts";

export interface LedgerContext {
  db: Db;
  sql: Sql;
  /** The bot's clock in ms since the epoch; expiry is judged by it, never by a sender's timestamp. */
  now(): number;
  /** Appends one audit entry; call only inside `write`. */
  audit(actor: string, event: string, body: unknown): AuditEntry;
  /** BEGIN IMMEDIATE … COMMIT around `fn` (a savepoint when nested). */
  write<T>(fn: () => T): T;
}

export function createContext(db: Db, clock: () => number): LedgerContext {
  const sql = statementCache(db);
  const now = () => {
    const t = clock();
    if (!Number.isSafeInteger(t) || t < 0) throw new Error(`ledger clock returned ${t}; expected whole milliseconds since the epoch`);
    return t;
  };
  return {
    db,
    sql,
    now,
    audit(actor, event, body) {
      parseInput(AuditActor, actor, event, "actor");
      parseInput(AuditEventName, event, "append", "event");
      try {
        return appendEntry(sql, now(), actor, event, body);
      } catch (err) {
        if (err instanceof CanonicalJsonError) throw new LedgerInputError(`${event}: body ${err.message}`);
        throw err;
      }
    },
    write: writeTransactions(db),
  };
}

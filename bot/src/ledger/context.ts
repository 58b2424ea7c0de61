// What every ledger operation works with: the connection, its statement cache, the bot's clock,
// and the audit append that must run inside the operation's own transaction.
import { type AuditEntry, chainAppender } from "./audit-chain.ts";
import { CanonicalJsonError } from "../canonical-json.ts";
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

/** Actors and event names already validated: few distinct ones recur on every decision, and zod's
 * checks were a measurable part of an append. Bounded, since actors include every voter's id. */
const validActors = new Set<string>();
const validEvents = new Set<string>();
function remember(valid: Set<string>, name: string): void {
  if (valid.size >= 10_000) valid.clear();
  valid.add(name);
}

export function createContext(db: Db, clock: () => number): LedgerContext {
  const sql = statementCache(db);
  const append = chainAppender(sql);
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
      if (!validActors.has(actor)) remember(validActors, parseInput(AuditActor, actor, event, "actor"));
      if (!validEvents.has(event)) remember(validEvents, parseInput(AuditEventName, event, "append", "event"));
      try {
        return append(now(), actor, event, body);
      } catch (err) {
        if (err instanceof CanonicalJsonError) throw new LedgerInputError(`${event}: body ${err.message}`);
        throw err;
      }
    },
    write: writeTransactions(db),
  };
}

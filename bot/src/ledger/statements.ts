// Prepared statements are compiled once per connection: preparing costs more than running the
// small statements the ledger issues on every decision.
import type Database from "better-sqlite3";
import type { Db } from "./database.ts";

export type Sql = (text: string) => Database.Statement;

export function statementCache(db: Db): Sql {
  const cache = new Map<string, Database.Statement>();
  return (text) => {
    let stmt = cache.get(text);
    if (!stmt) {
      stmt = db.prepare(text);
      cache.set(text, stmt);
    }
    return stmt;
  };
}

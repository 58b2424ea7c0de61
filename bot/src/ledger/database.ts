// Opens the ledger's SQLite file with the durability settings of notes B3 and brings its schema
// up to date. Every write elsewhere in the ledger runs in `writeTransaction` (BEGIN IMMEDIATE).
import Database from "better-sqlite3";
import { migrations as defaultMigrations, type Migration } from "./migrations.ts";

export type Db = Database.Database;

export class LedgerOpenError extends Error {
  override name = "LedgerOpenError";
}

export interface OpenOptions {
  /** Open without writing anything: no migration, no journal-mode change (for `audit verify`). */
  readonly?: boolean;
  /** Replaces the built-in schema steps; for tests of the migration runner. */
  migrations?: readonly Migration[];
}

export function openLedgerDatabase(path: string, options: OpenOptions = {}): Db {
  const steps = options.migrations ?? defaultMigrations;
  const db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false, timeout: 5000 });
  try {
    db.pragma("busy_timeout = 5000");
    db.pragma("foreign_keys = ON");
    if (options.readonly) {
      checkVersion(path, userVersion(db), steps.length);
      if (userVersion(db) === 0) throw new LedgerOpenError(`${path}: not a PocketCoder ledger (schema version 0)`);
      return db;
    }
    // WAL survives application crashes at any setting; FULL also fsyncs every commit so an
    // acknowledged decision survives a power loss (notes B3).
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal") throw new LedgerOpenError(`${path}: could not switch to WAL (journal_mode is ${String(mode)})`);
    db.pragma("synchronous = FULL");
    migrate(db, path, steps);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

export function userVersion(db: Db): number {
  return db.pragma("user_version", { simple: true }) as number;
}

function checkVersion(path: string, found: number, supported: number): void {
  if (found > supported) {
    throw new LedgerOpenError(`${path}: schema version ${found} is newer than this PocketCoder supports (${supported}); upgrade PocketCoder`);
  }
}

/** Applies the missing steps, each in its own IMMEDIATE transaction together with its version bump,
 * re-reading the version inside the transaction so two processes opening at once apply each step once. */
export function migrate(db: Db, path: string, steps: readonly Migration[]): void {
  checkVersion(path, userVersion(db), steps.length);
  const write = writeTransactions(db);
  for (let target = 1; target <= steps.length; target++) {
    const step = steps[target - 1]!;
    write(() => {
      const current = userVersion(db);
      checkVersion(path, current, steps.length);
      if (current >= target) return;
      try {
        db.exec(step.sql);
      } catch (err) {
        throw new LedgerOpenError(`${path}: schema step ${target} (${step.summary}) failed: ${(err as Error).message}`);
      }
      db.pragma(`user_version = ${target}`);
    });
  }
}

export type WriteTransaction = <T>(fn: () => T) => T;

/** Returns a runner for write transactions on `db`: `fn` runs in BEGIN IMMEDIATE (a savepoint when
 * already inside a transaction), all or nothing. The wrapper is built once: building one per call
 * cost more than the statements of a typical ledger write. */
export function writeTransactions(db: Db): WriteTransaction {
  const tx = db.transaction((fn: () => unknown) => fn());
  return <T>(fn: () => T) => tx.immediate(fn) as T;
}

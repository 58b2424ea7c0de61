// A persistent IndexedDB for Node: node-indexeddb keeps every database in memory and writes each
// record through to LevelDB, so a crash right after the crypto store changes still keeps it
// (see notes/matrix-e2ee.md §3.3). Both the Rust crypto store and the sync store live in it.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { IndexedDBStore } from "matrix-js-sdk";

type IDBFactoryLike = NonNullable<ConstructorParameters<typeof IndexedDBStore>[0]["indexedDB"]>;

export interface PersistentIndexedDB {
  /** The LevelDB folder. */
  path: string;
  /** The `indexedDB` global this installed. */
  factory: IDBFactoryLike;
  /** Waits until every record written so far is on disk. */
  flush(): Promise<void>;
}

let opened: PersistentIndexedDB | null = null;

/**
 * Installs `indexedDB` and friends as globals, backed by `<parent>/indexeddb`. node-indexeddb
 * fixes that folder as `<cwd>/indexeddb` when its module is first evaluated and keeps the
 * absolute path, so the working directory only needs to point at `parent` during the import;
 * it is restored at once and the rest of the process never depends on it. One per process.
 */
export async function openPersistentIndexedDB(parent: string): Promise<PersistentIndexedDB> {
  const path = join(parent, "indexeddb");
  if (opened) {
    if (opened.path !== path) throw new Error(`IndexedDB already opened at ${opened.path}; one store per process`);
    return opened;
  }
  mkdirSync(parent, { recursive: true, mode: 0o700 });
  const previous = process.cwd();
  process.chdir(parent);
  let dbManager: (typeof import("node-indexeddb/dbManager"))["default"];
  try {
    dbManager = (await import("node-indexeddb/dbManager")).default;
  } finally {
    process.chdir(previous);
  }
  try {
    await dbManager.loadCache();
  } catch (e) {
    // node-indexeddb drops LevelDB's open error; a held LOCK file is by far the usual cause.
    if ((e as { code?: string }).code === "LEVEL_DATABASE_NOT_OPEN") {
      throw new Error(`cannot open the store at ${path}: is another bot process using this data folder? (one bot per data folder)`);
    }
    throw e;
  }
  await import("node-indexeddb/auto");
  const factory = (globalThis as unknown as { indexedDB: IDBFactoryLike }).indexedDB;
  opened = { path, factory, flush: () => dbManager.flushWrites() };
  return opened;
}

// Where the bot keeps its Matrix identity inside the data folder. Everything lives under
// <dataDir>/bot/ (mode 0700) so other parts (homeserver, ledger) can share the data folder.
import { join } from "node:path";

export interface BotPaths {
  dir: string;
  /** user id, device id and access token (0600) */
  session: string;
  /** 32 random bytes that encrypt the crypto store (0600) */
  storageKey: string;
  /** the secret-storage (4S) recovery key (0600) */
  recoveryKey: string;
  /** node-indexeddb's LevelDB folder is always `<dir>/indexeddb` (see indexeddb-backend.ts) */
  indexedDbParent: string;
  /** handled event ids, so nothing is processed twice across restarts */
  stateDb: string;
}

export function botPaths(dataDir: string): BotPaths {
  const dir = join(dataDir, "bot");
  return {
    dir,
    session: join(dir, "session.json"),
    storageKey: join(dir, "storage-key"),
    recoveryKey: join(dir, "recovery-key.txt"),
    indexedDbParent: dir,
    stateDb: join(dir, "state.db"),
  };
}

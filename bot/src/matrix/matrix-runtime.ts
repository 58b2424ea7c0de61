// Brings the bot's Matrix side up in the order that keeps its identity (notes/matrix-e2ee.md):
// persistent IndexedDB → saved session (or the one login) → sync store → Rust crypto with the
// storage key → first live sync → cross-signing/secret storage/backup → ready. And down again.
import { mkdirSync } from "node:fs";
import { createClient, Filter, IndexedDBStore, type MatrixClient } from "matrix-js-sdk";
import type { BotConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import { bootstrapCrypto } from "./bootstrap-crypto.ts";
import { botPaths } from "./data-paths.ts";
import { startEventIntake, type EventHandler } from "./event-intake.ts";
import { createInFlight, type InFlight } from "./in-flight.ts";
import { openPersistentIndexedDB } from "./indexeddb-backend.ts";
import { startInviteHandling } from "./invites.ts";
import { waitForLiveSync } from "./live-sync.ts";
import { passwordLogin } from "./login.ts";
import { createMessenger, type Messenger } from "./messenger.ts";
import { quietRustTracing, quietSdkGlobalLogger, sdkLoggerFor } from "./sdk-logs.ts";
import { secretStorageKeyFile } from "./secret-storage-key.ts";
import { openSeenEvents } from "./seen-events.ts";
import { loadOrCreateStorageKey, readSession, saveSession, type Session } from "./session-store.ts";

export interface MatrixRuntime {
  client: MatrixClient;
  messenger: Messenger;
  userId: string;
  deviceId: string;
  /** The device's ed25519 identity key (public), from the crypto store. */
  deviceKey: string;
  /** True when this start logged in and created the identity. */
  firstStart: boolean;
  recoveryKeyPath: string;
  inFlight: InFlight;
  /** Stops taking work, waits up to `deadlineMs` for running handlers, then saves and closes the stores. */
  stop(deadlineMs: number): Promise<void>;
}

export interface StartMatrixOptions {
  config: BotConfig;
  log: Logger;
  /** Builds the handler for live room events once the client exists. */
  makeHandler(deps: { client: MatrixClient; messenger: Messenger; userId: string }): EventHandler;
}

const deviceName = "PocketCoder bot";
const syncDbName = "pocketcoder-sync";

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // the start-up path reports the failure; waiting handlers just end
  return { promise, resolve, reject };
}

async function sessionFor(config: BotConfig, path: string, log: Logger): Promise<{ session: Session; firstStart: boolean }> {
  const saved = readSession(path);
  if (saved) {
    if (saved.userId !== config.userId) {
      throw new Error(`${path} belongs to ${saved.userId}, but the configured user id is ${config.userId}; use another data folder`);
    }
    return { session: saved, firstStart: false };
  }
  if (!config.password) {
    throw new Error(`no saved session in ${path}: set POCKETCODER_PASSWORD or POCKETCODER_PASSWORD_FILE for the first start`);
  }
  const session = await passwordLogin({
    homeserverUrl: config.homeserverUrl,
    userId: config.userId,
    password: config.password,
    deviceName,
    logger: sdkLoggerFor(log),
  });
  // Saved before anything else can fail, so a crash now never costs the device.
  saveSession(path, session);
  log.info("logged in; session saved", { deviceId: session.deviceId, file: path });
  return { session, firstStart: true };
}

export async function startMatrix(opts: StartMatrixOptions): Promise<MatrixRuntime> {
  const { config, log } = opts;
  const paths = botPaths(config.dataDir);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  quietSdkGlobalLogger(log);

  const idb = await openPersistentIndexedDB(paths.indexedDbParent);
  const haveSession = readSession(paths.session) !== null;
  const storageKey = loadOrCreateStorageKey(paths.storageKey, haveSession);
  const { session, firstStart } = await sessionFor(config, paths.session, log);

  const keyFile = secretStorageKeyFile(paths.recoveryKey);
  const store = new IndexedDBStore({ indexedDB: idb.factory, dbName: syncDbName });
  const client = createClient({
    baseUrl: config.homeserverUrl,
    userId: session.userId,
    deviceId: session.deviceId,
    accessToken: session.accessToken,
    store,
    cryptoCallbacks: keyFile.callbacks,
    logger: sdkLoggerFor(log),
  });
  keyFile.attach(client);
  await store.startup();
  await client.initRustCrypto({ storageKey });
  quietRustTracing();
  await idb.flush();

  const seen = openSeenEvents(paths.stateDb);
  const inFlight = createInFlight(log);
  const messenger = createMessenger(client);
  const ready = deferred();
  const intake = startEventIntake({
    client,
    ownUserId: session.userId,
    seen,
    inFlight,
    ready: ready.promise,
    handle: opts.makeHandler({ client, messenger, userId: session.userId }),
    log,
  });
  const invites = startInviteHandling({
    client,
    ownUserId: session.userId,
    policy: config,
    allowUnencrypted: config.allowUnencrypted,
    inFlight,
    ready: ready.promise,
    log,
  });

  const shutDown = async (deadlineMs: number) => {
    intake.stop();
    invites.stop();
    const drained = await inFlight.drain(deadlineMs);
    if (!drained) log.warn("gave up waiting for running handlers", { running: inFlight.size });
    client.stopClient();
    await store.save(true);
    await idb.flush();
    seen.close();
  };

  try {
    const liveSync = waitForLiveSync(client, (e) => log.warn("sync failed; retrying", { error: e }));
    // No timeline history on an initial sync (a lost sync store): old messages are not new work.
    await client.startClient({ initialSyncLimit: 0, lazyLoadMembers: true, filter: botSyncFilter(session.userId) });
    await liveSync;
    const boot = await bootstrapCrypto(client, { userId: session.userId, password: config.password, keyFile, log });
    await idb.flush();
    if (boot.createdSecretStorage) log.info("recovery key saved; keep a copy somewhere safe", { file: paths.recoveryKey });
    if (boot.createdCrossSigning || boot.createdBackup) log.info("crypto bootstrapped", { ...boot });
    ready.resolve();
  } catch (e) {
    ready.reject(e);
    await shutDown(1000).catch(() => {});
    throw e;
  }

  return {
    client,
    messenger,
    userId: session.userId,
    deviceId: session.deviceId,
    deviceKey: (await client.getCrypto()!.getOwnDeviceKeys()).ed25519,
    firstStart,
    recoveryKeyPath: paths.recoveryKey,
    inFlight,
    stop: shutDown,
  };
}

/** What the bot syncs: no presence and no typing or receipts, which it never reads. Each sync the
 * homeserver computes is that much cheaper, and a vote reaches the bot sooner. */
function botSyncFilter(userId: string): Filter {
  const filter = new Filter(userId);
  filter.setDefinition({ presence: { not_types: ["*"] }, room: { ephemeral: { not_types: ["*"] }, state: { lazy_load_members: true } } });
  return filter;
}

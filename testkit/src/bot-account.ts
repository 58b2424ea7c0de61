// A fresh bot account and data folder on the test homeserver, ready for `startBotProcess`.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { logout, registerUser } from "../../scripts/lib/homeserver.ts";
import { botEnv, type BotEnvOptions } from "./bot-process.ts";
import type { TestHomeserver } from "./synapse-global-setup.ts";

export interface BotAccount {
  userId: string;
  password: string;
  /** A new empty temp folder; the bot's data folder is `<root>/data`. */
  root: string;
  dataDir: string;
  /** The bot's environment; `extra` overrides or adds options (allow lists, …). */
  env(extra?: Partial<BotEnvOptions>): Record<string, string>;
  /** Deletes `root`; call after the bot has stopped. */
  remove(): Promise<void>;
}

/** Registers `bot-<random>` and logs its registration session out, so the bot's own login is its only device. */
export async function createBotAccount(hs: TestHomeserver, defaults: Partial<BotEnvOptions> = {}): Promise<BotAccount> {
  const password = randomBytes(12).toString("hex");
  const session = await registerUser(hs.baseUrl, hs.sharedSecret, { localpart: `bot-${randomBytes(3).toString("hex")}`, password });
  await logout(hs.baseUrl, session.accessToken);
  const root = await mkdtemp(join(tmpdir(), "pocketcoder-bot-"));
  const dataDir = join(root, "data");
  return {
    userId: session.userId,
    password,
    root,
    dataDir,
    env: (extra = {}) => botEnv({ homeserverUrl: hs.baseUrl, userId: session.userId, password, dataDir, ...defaults, ...extra }),
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

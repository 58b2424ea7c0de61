// The bot as a separate process, as it runs in production: node running its bundle (built first
// when missing or stale; scripts/lib/bot-bundle.ts) with its configuration in the environment.
// Tests start it, wait for its `ready` line, and stop it (SIGTERM) or kill it (SIGKILL).
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { botNodeArgs, ensureBotBundle } from "../../scripts/lib/bot-bundle.ts";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface BotEnvOptions {
  homeserverUrl: string;
  userId: string;
  password?: string;
  dataDir: string;
  allowedUsers?: string[];
  allowedServers?: string[];
  allowUnencrypted?: boolean;
}

/** The environment variables for these options (nothing inherited but PATH and HOME). */
export function botEnv(opts: BotEnvOptions): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    POCKETCODER_HOMESERVER_URL: opts.homeserverUrl,
    POCKETCODER_USER_ID: opts.userId,
    POCKETCODER_DATA_DIR: opts.dataDir,
  };
  if (opts.password) env.POCKETCODER_PASSWORD = opts.password;
  if (opts.allowedUsers) env.POCKETCODER_ALLOWED_USERS = opts.allowedUsers.join(",");
  if (opts.allowedServers) env.POCKETCODER_ALLOWED_SERVERS = opts.allowedServers.join(",");
  if (opts.allowUnencrypted !== undefined) env.POCKETCODER_ALLOW_UNENCRYPTED = String(opts.allowUnencrypted);
  return env;
}

export interface SpawnOptions {
  /** The process's working directory; default the data folder's parent, away from any pocketcoder.yaml. */
  cwd?: string;
  /** Run as this user (only possible as root): how tests get a folder the bot cannot write. */
  uid?: number;
  gid?: number;
}

/** Spawns the bot with exactly `env`. */
export function spawnBot(env: NodeJS.ProcessEnv, opts: SpawnOptions = {}): ChildProcess {
  ensureBotBundle();
  return spawn(process.execPath, botNodeArgs(), {
    cwd: opts.cwd ?? (env.POCKETCODER_DATA_DIR ? dirname(env.POCKETCODER_DATA_DIR) : repoRoot),
    env,
    stdio: ["ignore", "pipe", "pipe"],
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs the bot until it exits on its own (bad configurations); resolves with its output. */
export async function runBotToExit(env: NodeJS.ProcessEnv, opts: SpawnOptions & { timeoutMs?: number } = {}) {
  const child = spawnBot(env, opts);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
  const exit = await new Promise<Exit>((r) => child.once("exit", (code, signal) => r({ code, signal })));
  clearTimeout(timer);
  return { ...exit, stdout, stderr };
}

const ReadyLine = z.object({
  msg: z.literal("ready"),
  userId: z.string(),
  deviceId: z.string(),
  /** The device's ed25519 identity key, as the bot's own crypto store holds it. */
  deviceKey: z.string(),
  firstStart: z.boolean(),
});
export type ReadyInfo = z.infer<typeof ReadyLine>;

export interface BotProcess {
  pid: number;
  ready: ReadyInfo;
  /** Everything the process wrote to stderr (its JSON log lines) so far. */
  log(): string;
  exited: Promise<Exit>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<Exit>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<Exit>;
}

/** Starts the bot and resolves once it logged `ready`; rejects with its output if it exits or times out first. */
export async function startBotProcess(env: NodeJS.ProcessEnv, opts: SpawnOptions & { readyTimeoutMs?: number } = {}): Promise<BotProcess> {
  const child = spawnBot(env, opts);
  let output = "";
  const exited = new Promise<Exit>((r) => child.once("exit", (code, signal) => r({ code, signal })));
  const ready = await new Promise<ReadyInfo>((resolveReady, reject) => {
    let pending = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the bot did not log "ready" within ${opts.readyTimeoutMs ?? 90_000} ms; its output:\n${output}`));
    }, opts.readyTimeoutMs ?? 90_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        let entry: unknown;
        try {
          entry = JSON.parse(line);
        } catch {
          continue;
        }
        const parsed = ReadyLine.safeParse(entry);
        if (parsed.success) {
          clearTimeout(timer);
          resolveReady(parsed.data);
        }
      }
    };
    child.stderr!.on("data", onData);
    child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`the bot exited (${e.signal ?? `code ${e.code}`}) before "ready"; its output:\n${output}`));
    });
  });
  const signalAndWait = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return {
    pid: child.pid!,
    ready,
    log: () => output,
    exited,
    stop: () => signalAndWait("SIGTERM"),
    kill: () => signalAndWait("SIGKILL"),
  };
}

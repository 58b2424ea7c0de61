// The whole product for an end-to-end test, against the test run's Synapse: the runner process (a
// temporary workspace, its own tmux, a token), a scripted model, and the bot process configured with
// the agent pointed at that model, the runner and a policy. Only the model is scripted. One stack per
// test file; tests create rooms with `roomWithBot` and talk to the bot as test users.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, realpath, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ClientEvent, EventType, type MatrixEvent } from "matrix-js-sdk";
import { stringify as toYaml } from "yaml";
import { Ledger } from "../../bot/src/ledger/ledger.ts";
import { RunnerClient } from "@pocketcoder/sandbox/client";
import { createBotAccount, type BotAccount } from "./bot-account.ts";
import { startBotProcess, type BotEnvOptions, type BotProcess } from "./bot-process.ts";
import { messageBody, type TestUser, type TextMatcher } from "./matrix-user.ts";
import { startScriptedLlm, type ScriptedLlm } from "./scripted-llm.ts";
import type { TestHomeserver } from "./synapse-global-setup.ts";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const runnerMain = join(repoRoot, "sandbox/src/main.ts");
const tsxUrl = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

export interface StackOptions {
  /** Policy YAML (one file's text); default: the repository's policies/ folder. */
  policy?: string;
  /** Extra bot settings (allow lists …); by default anyone on the test homeserver may invite it. */
  bot?: Partial<BotEnvOptions>;
  /** Extra environment for the runner (e.g. POCKETCODER_RUNNER_TIMEOUT_MS). */
  runnerEnv?: Record<string, string>;
}

export interface RunnerHandle {
  /** The socket path the bot and the shim use. */
  endpoint: string;
  token: string;
  client: RunnerClient;
  pid: number;
  log(): string;
}

export interface Stack {
  hs: TestHomeserver;
  llm: ScriptedLlm;
  account: BotAccount;
  /** The running bot process (replaced by `restartBot`). */
  readonly bot: BotProcess;
  botUserId: string;
  /** Real path of the workspace the project folders live in. */
  workspace: string;
  runner: RunnerHandle;
  /** The policy file or folder the bot uses. */
  policyPath: string;
  /** The bot's ledger (SQLite) file. */
  ledgerPath: string;
  /** Everything every bot process of this stack logged, in order (for debugging a failure). */
  botLogs(): string;
  /** Starts a new bot process on the same data folder (after `bot.stop()` or `bot.kill()`). */
  restartBot(): Promise<BotProcess>;
  /** Opens the ledger read-only for `fn`, closing it afterwards. */
  withLedger<T>(fn: (ledger: Ledger) => T): T;
  /** The pid of the opencode server the bot started most recently (from the bot's log). */
  opencodePid(): number;
  /** An encrypted room created by `user` with the bot joined; `others` are invited and join too. */
  roomWithBot(user: TestUser, opts?: { others?: TestUser[]; name?: string; powerLevels?: Record<string, unknown> }): Promise<string>;
  /** The next message from the bot in `roomId` (an edit counts, by its new content) matching `text`. */
  waitForBot(user: TestUser, roomId: string, text: TextMatcher, timeoutMs?: number): Promise<MatrixEvent>;
  /** The room's binding (project folder and OpenCode session) as the bot's ledger holds it. */
  binding(roomId: string): { project: string; directory: string; sessionId: string };
  /** What opencode itself still holds pending for the room's session (GET /permission). */
  agentPending(roomId: string): Promise<unknown[]>;
  /** Resolves once opencode reports the room's session idle: the agent's turn is over. */
  agentIdle(roomId: string, timeoutMs?: number): Promise<void>;
  /** Records the bot's messages in a room as `user` receives them, from now on; waits on it do not
   * consume anything, so several can wait for events arriving in any order. */
  watch(user: TestUser, roomId: string): BotWatch;
  /** Stops the bot, the runner (and its tmux), the model; removes the temporary folders. */
  stop(): Promise<void>;
}

const startTimeoutMs = 120_000;

export async function startStack(hs: TestHomeserver, opts: StackOptions = {}): Promise<Stack> {
  const root = await realpath(await mkdtemp(join(tmpdir(), "pc-stack-")));
  const workspace = join(root, "workspace");
  const runnerState = join(root, "runner");
  await mkdir(workspace, { recursive: true });
  await mkdir(runnerState, { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString("hex");
  const tokenFile = join(root, "runner-token");
  await writeFile(tokenFile, token + "\n", { mode: 0o600 });

  const llm = await startScriptedLlm();
  const runner = await startRunner({ workspace, state: runnerState, tokenFile, token, env: opts.runnerEnv ?? {} }).catch(async (e: unknown) => {
    await llm.close();
    throw e;
  });

  let policyPath = join(repoRoot, "policies");
  if (opts.policy !== undefined) {
    policyPath = join(root, "policies");
    await mkdir(policyPath);
    await writeFile(join(policyPath, "test.yaml"), opts.policy);
  }

  const account = await createBotAccount(hs, { allowedServers: [hs.serverName], ...opts.bot });
  await mkdir(account.dataDir, { recursive: true, mode: 0o700 });
  const configFile = join(account.root, "pocketcoder.yaml");
  await writeFile(
    configFile,
    toYaml({
      agent: { provider: "openai-compatible", model: "scripted-model", baseURL: llm.baseURL, apiKey: "test-key" },
      workspace,
      runner: { endpoint: runner.endpoint, tokenFile },
      policy: policyPath,
    }),
  );
  // POCKETCODER_LOG_LEVEL=debug in the test's environment reaches the bot, for debugging.
  const logLevel = process.env.POCKETCODER_LOG_LEVEL ? { POCKETCODER_LOG_LEVEL: process.env.POCKETCODER_LOG_LEVEL } : {};
  const env = { ...account.env(), ...logLevel, POCKETCODER_CONFIG: configFile };

  let bot: BotProcess;
  try {
    bot = await startBotProcess(env, { readyTimeoutMs: startTimeoutMs });
  } catch (e) {
    runner.kill();
    await llm.close();
    throw e;
  }
  const botUserId = bot.ready.userId;
  const earlier: string[] = [];

  /** A GET on the running opencode, with the credentials the bot recorded for it. */
  const agentGet = async (path: string): Promise<unknown> => {
    const server = JSON.parse(readFileSync(join(account.dataDir, "opencode", "server.json"), "utf8")) as { url: string; authorization: string };
    const res = await fetch(`${server.url}${path}`, { headers: { Authorization: server.authorization } });
    if (!res.ok) throw new Error(`opencode GET ${path}: HTTP ${res.status}`);
    return res.json();
  };

  const stack: Stack = {
    hs,
    llm,
    account,
    get bot() {
      return bot;
    },
    botUserId,
    workspace,
    runner,
    policyPath,
    ledgerPath: join(account.dataDir, "pocketcoder.db"),
    botLogs: () => [...earlier, bot.log()].join(""),
    async restartBot() {
      earlier.push(bot.log());
      bot = await startBotProcess(env, { readyTimeoutMs: startTimeoutMs });
      return bot;
    },
    withLedger(fn) {
      const ledger = Ledger.open(stack.ledgerPath, { readonly: true });
      try {
        return fn(ledger);
      } finally {
        ledger.close();
      }
    },
    opencodePid() {
      const pids = logLines(bot.log())
        .filter((l) => (l.msg === "opencode serving" || l.msg === "adopted the agent server of the previous run") && typeof l.pid === "number")
        .map((l) => l.pid as number);
      if (pids.length === 0) throw new Error(`the bot has not logged "opencode serving" yet; its log:\n${bot.log().slice(-3000)}`);
      return pids.at(-1)!;
    },
    async roomWithBot(user, o = {}) {
      const others = o.others ?? [];
      const roomId = await user.createRoom({
        invite: [botUserId, ...others.map((u) => u.userId)],
        ...(o.name ? { name: o.name } : {}),
        ...(o.powerLevels ? { powerLevels: o.powerLevels } : {}),
      });
      for (const other of others) {
        await other.waitForInvite(roomId);
        await other.join(roomId);
      }
      await user.waitForMembership(roomId, botUserId, "join");
      for (const other of others) await user.waitForMembership(roomId, other.userId, "join");
      return roomId;
    },
    waitForBot(user, roomId, text, timeoutMs = 60_000) {
      return user.waitForMessage(roomId, text, { sender: botUserId, timeoutMs });
    },
    watch: (user, roomId) => new BotWatch(user, roomId, botUserId),
    binding(roomId) {
      const row = stack.withLedger((l) => l.db.prepare("SELECT project, directory, session_id AS sessionId FROM room_bindings WHERE room_id = ?").get(roomId)) as
        | { project: string; directory: string; sessionId: string }
        | undefined;
      if (!row) throw new Error(`room ${roomId} has no binding yet`);
      return row;
    },
    async agentPending(roomId) {
      const { directory, sessionId } = stack.binding(roomId);
      const all = (await agentGet(`/permission?directory=${encodeURIComponent(directory)}`)) as { sessionID?: string }[];
      return all.filter((p) => p.sessionID === sessionId);
    },
    async agentIdle(roomId, timeoutMs = 60_000) {
      const { directory, sessionId } = stack.binding(roomId);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const status = (await agentGet(`/session/status?directory=${encodeURIComponent(directory)}`)) as Record<string, { type: string }>;
        if ((status[sessionId]?.type ?? "idle") === "idle") return;
        if (Date.now() > deadline) throw new Error(`the agent's session ${sessionId} is still ${status[sessionId]?.type} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      await bot.stop();
      // A bot that was killed and not restarted leaves its agent server running (it would adopt it).
      await killLeftAgent(join(account.dataDir, "opencode", "server.json"));
      runner.kill();
      await runner.exited;
      await llm.close();
      await killTmux(runnerState);
      await rm(root, { recursive: true, force: true });
      await rm(account.root, { recursive: true, force: true });
    },
  };
  return stack;
}

/** The bot's `m.room.message` events in one room (edits by their new content), decrypted, in arrival order. */
export class BotWatch {
  private readonly entries: { event: MatrixEvent; ready: boolean }[] = [];
  private readonly wakeups = new Set<() => void>();

  constructor(
    private readonly user: TestUser,
    private readonly roomId: string,
    private readonly sender: string,
  ) {
    user.client.on(ClientEvent.Event, (event) => {
      if (event.getRoomId() !== roomId || event.getSender() !== sender) return;
      const entry = { event, ready: false };
      this.entries.push(entry);
      void user.client
        .decryptEventIfNeeded(event)
        .catch(() => undefined)
        .finally(() => {
          entry.ready = true;
          for (const w of this.wakeups) w();
        });
    });
  }

  /** Bodies of the messages seen so far that satisfy `filter`. */
  bodies(filter: (event: MatrixEvent) => boolean = () => true): string[] {
    return this.entries.filter((e) => e.ready && e.event.getType() === EventType.RoomMessage && filter(e.event)).map((e) => messageBody(e.event) ?? "");
  }

  /** The first message seen since the watch began (or arriving later) that matches. */
  waitFor(text: TextMatcher, timeoutMs = 60_000): Promise<MatrixEvent> {
    const test = (event: MatrixEvent): boolean => {
      if (event.getType() !== EventType.RoomMessage) return false;
      const body = messageBody(event);
      if (body === undefined) return false;
      return typeof text === "string" ? body.includes(text) : text instanceof RegExp ? text.test(body) : text(body, event);
    };
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.entries.find((e) => e.ready && test(e.event));
        if (!hit) return;
        done();
        resolve(hit.event);
      };
      const timer = setTimeout(() => {
        done();
        const recent = this.bodies().slice(-6).map((b) => `  ${JSON.stringify(b.slice(0, 160))}`).join("\n");
        reject(new Error(`${this.user.userId}: no matching message from ${this.sender} in ${this.roomId} within ${timeoutMs} ms; latest:\n${recent}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.wakeups.delete(check);
      };
      this.wakeups.add(check);
      check();
    });
  }
}

type RunnerProcess = RunnerHandle & { kill(): void; exited: Promise<void> };

export async function startRunner(o: { workspace: string; state: string; tokenFile: string; token: string; env: Record<string, string> }): Promise<RunnerProcess> {
  const socket = join(o.state, "runner.sock");
  const child: ChildProcess = spawn(process.execPath, ["--import", tsxUrl, runnerMain], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      POCKETCODER_WORKSPACE: o.workspace,
      POCKETCODER_RUNNER_STATE: o.state,
      POCKETCODER_RUNNER_TOKEN_FILE: o.tokenFile,
      POCKETCODER_RUNNER_LISTEN: `unix:${socket}`,
      ...o.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the runner did not report "listening" within ${startTimeoutMs} ms; its output:\n${output}`));
    }, startTimeoutMs);
    child.stderr!.on("data", (c: Buffer) => {
      output += c.toString();
      if (output.includes('"msg":"listening"')) {
        clearTimeout(timer);
        resolveReady();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the runner exited before "listening"; its output:\n${output}`));
    });
  });
  return {
    endpoint: socket,
    token: o.token,
    client: new RunnerClient(socket, o.token),
    pid: child.pid!,
    log: () => output,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    },
    exited,
  };
}

/** The runner leaves tmux running on purpose (commands survive its restarts); a test cleans it up. */
export async function killTmux(stateDir: string): Promise<void> {
  const socket = join(stateDir, "tmux", "sock");
  if (!existsSync(socket)) return;
  await new Promise<void>((r) => spawn("tmux", ["-S", socket, "kill-server"], { stdio: "ignore" }).once("exit", () => r()).once("error", () => r()));
}

async function killLeftAgent(recordPath: string): Promise<void> {
  if (!existsSync(recordPath)) return;
  const { pid } = JSON.parse(readFileSync(recordPath, "utf8")) as { pid: number };
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, "SIGKILL");
  while (alive()) await new Promise((r) => setTimeout(r, 50));
}

function logLines(text: string): Record<string, unknown>[] {
  return text.split("\n").flatMap((line) => {
    if (!line.startsWith("{")) return [];
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** The text of a file the agent wrote in a project folder, for assertions. */
export function readProjectFile(stack: Stack, project: string, name: string): string {
  return readFileSync(join(stack.workspace, project, name), "utf8");
}

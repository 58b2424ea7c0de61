// `npm start`, the embedded default (scripts/start.sh installs what is missing first): a local Synapse
// on loopback, the bot and operator accounts, the sandbox runner, then the bot (which starts and
// supervises the agent itself); prints how to sign in from Element. Every process it starts is a
// supervised service, stopped in reverse order.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { ensureAccount, exemptBot } from "./lib/accounts.ts";
import { botBundleIsFresh, botNodeArgs, buildBotBundle } from "./lib/bot-bundle.ts";
import { portInUse, repoRoot, startHomeserver, type RunningHomeserver } from "./lib/homeserver.ts";
import { spawnService, Supervisor, type SpawnedService } from "./lib/supervisor.ts";

const serverName = "localhost";
const botLocalpart = "pocketcoder";
const operatorLocalpart = "operator";
const readyWaitMs = 60_000;

const say = (line: string) => console.log(`[pocketcoder] ${line}`);

class StartError extends Error {}

function hsPort(): number {
  const raw = process.env.POCKETCODER_HS_PORT ?? "8008";
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new StartError(`POCKETCODER_HS_PORT must be a port number (1-65535), got "${raw}"`);
  }
  return port;
}

async function refuseTakenPort(port: number, hsDir: string): Promise<void> {
  if (!(await portInUse(port))) return;
  const pidFile = join(hsDir, "homeserver.pid");
  const pid = existsSync(pidFile) ? Number((await readFile(pidFile, "utf8")).trim()) : NaN;
  const ours = Number.isInteger(pid) && isAlive(pid)
    ? ` It looks like an earlier PocketCoder Synapse (pid ${pid}) is still running; stop it with: kill ${pid}.`
    : "";
  throw new StartError(
    `port ${port} on 127.0.0.1 is already in use by something else.${ours} ` +
      `Free it, or pick another port: POCKETCODER_HS_PORT=8448 npm start`,
  );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Reads the password file, or writes a new random password (0600) and says it is fresh. */
async function passwordFile(path: string): Promise<{ password: string; fresh: boolean }> {
  if (existsSync(path)) return { password: (await readFile(path, "utf8")).trim(), fresh: false };
  const password = randomBytes(24).toString("base64url");
  await writeFile(path, password + "\n", { mode: 0o600, flag: "wx" });
  return { password, fresh: true };
}

/** Creates the account when missing, with a generated password kept in a 0600 file. */
async function ensureAccountWithFile(hs: RunningHomeserver, localpart: string, path: string, admin: boolean): Promise<{ userId: string; password: string }> {
  const userId = `@${localpart}:${hs.serverName}`;
  const { password, fresh } = await passwordFile(path);
  const created = await ensureAccount(hs.baseUrl, hs.sharedSecret, { localpart, password }, admin);
  if (created) say(`created ${userId}`);
  if (fresh && !created) {
    await rm(path);
    throw new StartError(
      `${userId} already exists but its password file ${path} was missing. Restore the file, or start ` +
        `over by removing ${hs.dir} (this deletes the homeserver's rooms and accounts).`,
    );
  }
  return { userId, password };
}

function mergedList(first: string, extra: string | undefined): string {
  const items = [first, ...(extra ?? "").split(",").map((s) => s.trim())].filter((s) => s !== "");
  return [...new Set(items)].join(",");
}

/** Passes a child's JSON log lines (stderr) through untouched, resolving on the first line holding `marker`. */
function watchLog(service: SpawnedService, marker: string): Promise<void> {
  return new Promise<void>((resolveSeen) => {
    createInterface({ input: service.child.stderr! }).on("line", (line) => {
      process.stderr.write(line + "\n");
      if (line.includes(marker)) resolveSeen();
    });
  });
}

interface RunnerPaths {
  workspace: string;
  socket: string;
  tokenFile: string;
}

/** The sandbox runner on a unix socket in the data folder. Its tmux server outlives the runner on
 * purpose (commands survive runner restarts), so stopping the service ends tmux too. */
async function startRunner(dataDir: string, secretsDir: string): Promise<{ service: SpawnedService; ready: Promise<void>; paths: RunnerPaths }> {
  const state = join(dataDir, "runner");
  const wanted = resolve(process.env.POCKETCODER_WORKSPACE ?? join(dataDir, "workspace"));
  await mkdir(state, { recursive: true, mode: 0o700 });
  await mkdir(wanted, { recursive: true });
  // The runner and the grants name the workspace by its real path; a symlinked data folder must not differ.
  const workspace = realpathSync(wanted);
  const tokenFile = join(secretsDir, "runner-token");
  await passwordFile(tokenFile);
  const socket = join(state, "runner.sock");
  const env = {
    ...process.env,
    POCKETCODER_WORKSPACE: workspace,
    POCKETCODER_RUNNER_STATE: state,
    POCKETCODER_RUNNER_TOKEN_FILE: tokenFile,
    POCKETCODER_RUNNER_LISTEN: `unix:${socket}`,
  };
  const spawned = spawnService("runner", process.execPath, ["--import", "tsx", "sandbox/src/main.ts"], {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "inherit", "pipe"],
  });
  const tmuxSocket = join(state, "tmux", "sock");
  const service: SpawnedService = {
    ...spawned,
    stop: async () => {
      await spawned.stop();
      if (!existsSync(tmuxSocket)) return;
      await new Promise<void>((done) => spawn("tmux", ["-S", tmuxSocket, "kill-server"], { stdio: "ignore" }).once("exit", () => done()).once("error", () => done()));
    },
  };
  return { service, ready: watchLog(spawned, '"msg":"listening"'), paths: { workspace, socket, tokenFile } };
}

function startBot(hs: RunningHomeserver, botUserId: string, operatorUserId: string, dataDir: string, passwordPath: string, runner: RunnerPaths): {
  service: SpawnedService;
  ready: Promise<void>;
} {
  const env = {
    ...process.env,
    POCKETCODER_WORKSPACE: runner.workspace,
    POCKETCODER_RUNNER: `unix:${runner.socket}`,
    POCKETCODER_RUNNER_TOKEN_FILE: runner.tokenFile,
    POCKETCODER_HOMESERVER_URL: hs.baseUrl,
    POCKETCODER_USER_ID: botUserId,
    POCKETCODER_PASSWORD_FILE: passwordPath,
    POCKETCODER_DATA_DIR: join(dataDir, "bot"),
    POCKETCODER_ALLOWED_USERS: mergedList(operatorUserId, process.env.POCKETCODER_ALLOWED_USERS),
    POCKETCODER_OPERATOR: process.env.POCKETCODER_OPERATOR ?? operatorUserId,
  };
  const service = spawnService("bot", process.execPath, botNodeArgs(), { cwd: repoRoot, env, stdio: ["ignore", "inherit", "pipe"] });
  return { service, ready: watchLog(service, '"msg":"ready"') };
}

function signInInstructions(hs: RunningHomeserver, botUserId: string, operatorUserId: string, operatorPasswordPath: string): string {
  return [
    "",
    "PocketCoder is running. Sign in from Element (app or https://app.element.io):",
    `  homeserver:  ${hs.baseUrl}   (Element: "Edit" the homeserver on the sign-in screen)`,
    `  user:        ${operatorUserId}`,
    `  password:    in ${operatorPasswordPath}   (cat it; keep it private)`,
    `Then create a room (encryption on, the default), invite ${botUserId}, and send !ping.`,
    agentConfigured()
      ? "Write to the bot in that room to talk to the agent; approve its commands with ✅."
      : "No agent is configured yet: add an `agent:` section to pocketcoder.yaml (README: Choosing a provider and model) and restart.",
    `The homeserver listens on 127.0.0.1 only: from a phone, reach it through a tunnel or a reverse proxy.`,
    "Ctrl-C stops everything.",
    "",
  ].join("\n");
}

function agentConfigured(): boolean {
  const file = process.env.POCKETCODER_CONFIG ?? join(repoRoot, "pocketcoder.yaml");
  return existsSync(file) && /^agent:/m.test(readFileSync(file, "utf8"));
}

async function main(): Promise<number> {
  const dataDir = resolve(process.env.POCKETCODER_DATA ?? join(repoRoot, "data"));
  const hsDir = join(dataDir, "homeserver");
  const secretsDir = join(dataDir, "secrets");
  const port = hsPort();
  await mkdir(secretsDir, { recursive: true, mode: 0o700 });
  await chmod(secretsDir, 0o700);
  await refuseTakenPort(port, hsDir);
  if (!botBundleIsFresh()) {
    say("building the bot (.cache/bot-bundle)");
    await buildBotBundle();
  }

  const supervisor = new Supervisor(say);
  say(`starting Synapse on 127.0.0.1:${port} (data: ${hsDir})`);
  const hs = await startHomeserver({ dir: hsDir, port, serverName });
  supervisor.add({ name: "Synapse", exited: hs.exited, stop: hs.stop });

  try {
    const operatorPasswordPath = join(secretsDir, "operator-password");
    const botPasswordPath = join(secretsDir, "bot-password");
    const operator = await ensureAccountWithFile(hs, operatorLocalpart, operatorPasswordPath, true);
    const bot = await ensureAccountWithFile(hs, botLocalpart, botPasswordPath, false);
    await exemptBot(hs.baseUrl, operator.userId, operator.password, bot.userId);

    say("starting the sandbox runner");
    const runner = await startRunner(dataDir, secretsDir);
    supervisor.add(runner.service);
    const runnerUp = await Promise.race([runner.ready.then(() => true), runner.service.exited.then(() => false)]);
    if (!runnerUp) throw new StartError("the sandbox runner exited during start-up; see its log above");

    say("starting the bot");
    const botProcess = startBot(hs, bot.userId, operator.userId, dataDir, botPasswordPath, runner.paths);
    supervisor.add(botProcess.service);
    const outcome = await Promise.race([
      botProcess.ready.then(() => "ready"),
      botProcess.service.exited.then(() => "exited"),
      new Promise<string>((r) => setTimeout(() => r("late"), readyWaitMs).unref()),
    ]);
    if (outcome === "late") say(`the bot has not reported "ready" after ${readyWaitMs / 1000} s; see its log above`);
    if (outcome !== "exited") console.log(signInInstructions(hs, bot.userId, operator.userId, operatorPasswordPath));
  } catch (error) {
    await supervisor.shutdown(1, `start-up failed: ${(error as Error).message}`);
  }
  return supervisor.done();
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`[pocketcoder] ${error instanceof StartError ? error.message : (error as Error).stack}`);
    process.exit(1);
  },
);

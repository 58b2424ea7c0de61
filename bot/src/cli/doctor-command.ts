// `pocketcoder doctor`: checks the configuration and what the bot depends on, one line per check,
// without changing anything. Exit code 0 when nothing failed.
import { existsSync } from "node:fs";
import { RunnerClient } from "@pocketcoder/sandbox/client";
import { builtinProviders, resolveApiKey } from "../agent/opencode-config.ts";
import { resolveOpencodeBinary } from "../agent/opencode-process.ts";
import { loadConfig, type BotConfig } from "../config.ts";
import type { LoopConfig } from "../loop-config.ts";
import { loadPolicy } from "../policy/index.ts";
import { botPaths } from "../matrix/data-paths.ts";
import { fileMode } from "../matrix/secret-files.ts";
import { readSession, type Session } from "../matrix/session-store.ts";
import type { CliHandler } from "./main.ts";

type Status = "ok" | "warn" | "FAIL";
interface Check {
  status: Status;
  name: string;
  detail: string;
}

const timeoutMs = 5000;

async function checkHomeserver(url: string): Promise<Check> {
  const started = performance.now();
  try {
    const res = await fetch(`${url}/_matrix/client/versions`, { signal: AbortSignal.timeout(timeoutMs) });
    const ms = Math.round(performance.now() - started);
    if (!res.ok) return { status: "FAIL", name: "homeserver", detail: `${url} answered /versions with HTTP ${res.status}` };
    const body = (await res.json()) as { versions?: unknown };
    const versions = (Array.isArray(body.versions) ? body.versions : []).map(String);
    const newest = versions.sort((a, b) => a.localeCompare(b, "en", { numeric: true })).at(-1) ?? "?";
    return { status: "ok", name: "homeserver", detail: `${url} answers /versions in ${ms} ms (spec up to ${newest})` };
  } catch (e) {
    const reason = (e as Error).name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : ((e as { cause?: Error }).cause?.message ?? (e as Error).message);
    return { status: "FAIL", name: "homeserver", detail: `${url}/_matrix/client/versions: ${reason}` };
  }
}

/** The device's ed25519 key as the homeserver hands it to other users (what Element shows). */
async function publishedDeviceKey(url: string, session: Session): Promise<string | undefined> {
  const res = await fetch(`${url}/_matrix/client/v3/keys/query`, {
    method: "POST",
    headers: { authorization: `Bearer ${session.accessToken}`, "content-type": "application/json" },
    body: JSON.stringify({ device_keys: { [session.userId]: [session.deviceId] } }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) return undefined;
  const body = (await res.json()) as { device_keys?: Record<string, Record<string, { keys?: Record<string, string> }>> };
  return body.device_keys?.[session.userId]?.[session.deviceId]?.keys?.[`ed25519:${session.deviceId}`];
}

async function checkToken(config: BotConfig, session: Session): Promise<Check> {
  try {
    const res = await fetch(`${config.homeserverUrl}/_matrix/client/v3/account/whoami`, {
      headers: { authorization: `Bearer ${session.accessToken}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.status === 401) return { status: "FAIL", name: "access token", detail: "the homeserver rejects the saved access token" };
    if (!res.ok) return { status: "FAIL", name: "access token", detail: `whoami answered HTTP ${res.status}` };
    const me = (await res.json()) as { user_id?: string; device_id?: string };
    const key = await publishedDeviceKey(config.homeserverUrl, session);
    return { status: "ok", name: "access token", detail: `accepted for ${me.user_id} (device ${me.device_id}, ed25519 key ${key ?? "not published"})` };
  } catch (e) {
    return { status: "FAIL", name: "access token", detail: `whoami failed: ${(e as Error).message}` };
  }
}

function checkSecretFiles(config: BotConfig): Check[] {
  const paths = botPaths(config.dataDir);
  return [paths.session, paths.storageKey, paths.recoveryKey]
    .filter((p) => existsSync(p))
    .filter((p) => (fileMode(p) & 0o077) !== 0)
    .map((p) => ({ status: "warn", name: "file mode", detail: `${p} is mode 0${fileMode(p).toString(8)}; make it 0600` }));
}

/** The runner answers, with the token the bot holds (listing sessions needs it). */
async function checkRunner(loop: LoopConfig): Promise<Check> {
  const client = new RunnerClient(loop.runner.endpoint, loop.runner.token);
  try {
    const health = await withTimeout(client.health());
    const sessions = await withTimeout(client.sessions());
    const sandbox = health.sandbox === "plain" ? "plain (no bubblewrap: commands are not isolated from this machine)" : health.sandbox;
    return { status: health.sandbox === "plain" ? "warn" : "ok", name: "runner", detail: `${loop.runner.endpoint} answers; sandbox ${sandbox}; ${sessions.length} session(s)` };
  } catch (e) {
    return { status: "FAIL", name: "runner", detail: `${loop.runner.endpoint}: ${(e as Error).message}` };
  }
}

function withTimeout<T>(p: Promise<T>): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref())]);
}

async function checkPolicy(loop: LoopConfig): Promise<Check> {
  try {
    const policy = await loadPolicy(loop.policy);
    return { status: "ok", name: "policy", detail: `${policy.files.join(", ")}: ${policy.rules.length} rules, hash ${policy.hash.slice(0, 12)}` };
  } catch (e) {
    return { status: "FAIL", name: "policy", detail: (e as Error).message };
  }
}

/** The agent's binary and key; the model itself is not called (that would spend tokens). */
function checkAgent(loop: LoopConfig, env: NodeJS.ProcessEnv): Check[] {
  const { agent } = loop;
  const checks: Check[] = [];
  try {
    checks.push({ status: "ok", name: "agent", detail: `opencode at ${resolveOpencodeBinary()}; model ${agent.provider}/${agent.model}` });
  } catch (e) {
    checks.push({ status: "FAIL", name: "agent", detail: `the opencode binary is missing: ${(e as Error).message}` });
  }
  if (!resolveApiKey(agent, env) && agent.provider !== "openai-compatible") {
    const where = agent.apiKeyEnv ?? builtinProviders[agent.provider].keyEnv;
    checks.push({ status: "FAIL", name: "agent key", detail: `no API key for ${agent.provider}: ${where} is not set` });
  }
  return checks;
}

async function checkLoop(config: BotConfig, env: NodeJS.ProcessEnv): Promise<Check[]> {
  if (!config.loop) return [{ status: "warn", name: "agent", detail: "no agent section in the configuration: rooms get no coding agent (README: Choosing a provider and model)" }];
  return [await checkRunner(config.loop), await checkPolicy(config.loop), ...checkAgent(config.loop, env)];
}

export async function runDoctor(env: NodeJS.ProcessEnv, cwd: string): Promise<Check[]> {
  const loaded = loadConfig({ env, cwd });
  if (!loaded.ok) return loaded.problems.map((p) => ({ status: "FAIL", name: "config", detail: p }));
  const { config } = loaded;
  return [...(await checkMatrix(config, loaded.file)), ...(await checkLoop(config, env))];
}

async function checkMatrix(config: BotConfig, file: string | null): Promise<Check[]> {
  const checks: Check[] = [
    { status: "ok", name: "config", detail: file ? `from ${file} and the environment` : "from the environment" },
    { status: "ok", name: "data folder", detail: `${config.dataDir} is writable${existsSync(config.dataDir) ? "" : " (will be created)"}` },
  ];
  if (config.allowedUsers.length === 0 && config.allowedServers.length === 0 && !config.operator) {
    checks.push({ status: "warn", name: "invites", detail: "nobody may invite the bot: set POCKETCODER_ALLOWED_USERS or POCKETCODER_ALLOWED_SERVERS" });
  }
  const hs = await checkHomeserver(config.homeserverUrl);
  checks.push(hs);

  const paths = botPaths(config.dataDir);
  let session: Session | null = null;
  try {
    session = readSession(paths.session);
  } catch (e) {
    checks.push({ status: "FAIL", name: "session", detail: (e as Error).message });
    return checks;
  }
  if (!session) {
    checks.push(
      config.password
        ? { status: "ok", name: "session", detail: "none yet; the first start logs in with the configured password" }
        : { status: "FAIL", name: "session", detail: "none yet, and no password: set POCKETCODER_PASSWORD or POCKETCODER_PASSWORD_FILE" },
    );
    return checks;
  }
  checks.push({ status: "ok", name: "session", detail: `device ${session.deviceId} of ${session.userId}, saved in ${paths.session}` });
  if (!existsSync(paths.storageKey)) checks.push({ status: "FAIL", name: "storage key", detail: `${paths.storageKey} is missing: the crypto store cannot be opened` });
  if (!existsSync(paths.recoveryKey)) checks.push({ status: "warn", name: "recovery key", detail: `${paths.recoveryKey} is missing (it is written on the first start)` });
  checks.push(...checkSecretFiles(config));
  if (hs.status === "ok") checks.push(await checkToken(config, session));
  return checks;
}

export const doctorCommand: CliHandler = async (args) => {
  if (args.length > 0) {
    console.error("usage: pocketcoder doctor   (reads the same environment and pocketcoder.yaml as the bot)");
    return 2;
  }
  const checks = await runDoctor(process.env, process.cwd());
  for (const c of checks) console.log(`${c.status.padEnd(4)}  ${c.name}: ${c.detail}`);
  return checks.some((c) => c.status === "FAIL") ? 1 : 0;
};

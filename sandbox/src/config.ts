// The runner's configuration, from the environment, validated in one place. Errors name the
// variable and say what it should look like. Loading reads the token file and nothing else.
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { z } from "zod";
import type { ListenAddress } from "./http-server.ts";
import { limits } from "./protocol.ts";
import type { RunnerSettings } from "./runner.ts";

export interface RunnerConfig {
  settings: RunnerSettings;
  listen: ListenAddress;
  token: string;
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const Env = z.object({
  POCKETCODER_WORKSPACE: z.string({ error: "is required: the directory commands run in" }).refine(isAbsolute, "must be an absolute path"),
  POCKETCODER_RUNNER_STATE: z.string({ error: "is required: a directory for the runner's state and logs" }).refine(isAbsolute, "must be an absolute path"),
  POCKETCODER_RUNNER_LISTEN: z.string().optional(),
  POCKETCODER_RUNNER_SOCKET_MODE: z.string().regex(/^[0-7]{3}$/, "must be an octal mode such as 660").default("660"),
  POCKETCODER_RUNNER_ALLOW_REMOTE: z.enum(["0", "1"]).default("0"),
  POCKETCODER_RUNNER_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  POCKETCODER_RUNNER_TOKEN_FILE: z.string().optional(),
  POCKETCODER_SANDBOX: z.enum(["auto", "bwrap", "plain"]).default("auto"),
  POCKETCODER_SANDBOX_PATH: z.string().default("/usr/local/bin:/usr/bin:/bin"),
  POCKETCODER_RUNNER_TIMEOUT_MS: int(1, limits.maxTimeoutMs).default(limits.defaultTimeoutMs),
  POCKETCODER_RUNNER_NO_OUTPUT_MS: int(100, 3_600_000).default(30_000),
  POCKETCODER_RUNNER_CANCEL_STEP_MS: int(50, 60_000).default(3_000),
  POCKETCODER_RUNNER_REPLY_MAX_BYTES: int(1024, 16 << 20).default(65_536),
  POCKETCODER_RUNNER_QUEUE_MAX: int(1, 10_000).default(limits.queueMax),
  POCKETCODER_RUNNER_HISTORY_LIMIT: int(100, 10_000_000).default(50_000),
  POCKETCODER_RUNNER_RETENTION_HOURS: int(1, 24 * 365).default(24),
});

function parseListen(text: string, socketMode: number, allowRemote: boolean): ListenAddress {
  const unix = text.startsWith("unix:") ? text.slice(5) : text.startsWith("/") ? text : null;
  if (unix !== null) return { kind: "unix", path: unix, mode: socketMode };
  const m = /^(?:http:\/\/)?(\[[0-9a-fA-F:]+\]|[^:/]+):(\d{1,5})\/?$/.exec(text);
  if (!m) throw new Error(`POCKETCODER_RUNNER_LISTEN: "${text}" is neither unix:/path, /path.sock, host:port nor http://host:port`);
  const host = m[1]!.replace(/^\[|\]$/g, "");
  const loopback = host === "localhost" || host === "::1" || host.startsWith("127.");
  if (!loopback && !allowRemote) throw new Error(`POCKETCODER_RUNNER_LISTEN: ${host} is not a loopback address; set POCKETCODER_RUNNER_ALLOW_REMOTE=1 only on a private container network`);
  return { kind: "tcp", host, port: Number(m[2]) };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): RunnerConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    throw new Error(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n"));
  }
  const e = parsed.data;
  if (!existsSync(e.POCKETCODER_WORKSPACE) || !statSync(e.POCKETCODER_WORKSPACE).isDirectory()) {
    throw new Error(`POCKETCODER_WORKSPACE: ${e.POCKETCODER_WORKSPACE} is not an existing directory`);
  }
  const workspace = realpathSync(e.POCKETCODER_WORKSPACE);
  if (workspace !== e.POCKETCODER_WORKSPACE) {
    throw new Error(`POCKETCODER_WORKSPACE: give the real path ${workspace} (commands report their cwd without symlinks, so grants would never match)`);
  }
  let token = e.POCKETCODER_RUNNER_TOKEN;
  if (!token && e.POCKETCODER_RUNNER_TOKEN_FILE) {
    token = readFileSync(e.POCKETCODER_RUNNER_TOKEN_FILE, "utf8").trim();
    if (token.length < 16) throw new Error(`POCKETCODER_RUNNER_TOKEN_FILE: the token in ${e.POCKETCODER_RUNNER_TOKEN_FILE} is shorter than 16 characters`);
  }
  if (!token) throw new Error("POCKETCODER_RUNNER_TOKEN or POCKETCODER_RUNNER_TOKEN_FILE is required: the bearer token the bot uses");
  const stateDir = e.POCKETCODER_RUNNER_STATE;
  const listen = parseListen(e.POCKETCODER_RUNNER_LISTEN ?? `unix:${join(stateDir, "runner.sock")}`, parseInt(e.POCKETCODER_RUNNER_SOCKET_MODE, 8), e.POCKETCODER_RUNNER_ALLOW_REMOTE === "1");
  return {
    listen,
    token,
    settings: {
      workspace,
      stateDir,
      sandbox: e.POCKETCODER_SANDBOX,
      path: e.POCKETCODER_SANDBOX_PATH,
      defaultTimeoutMs: e.POCKETCODER_RUNNER_TIMEOUT_MS,
      noOutputMs: e.POCKETCODER_RUNNER_NO_OUTPUT_MS,
      cancelStepMs: e.POCKETCODER_RUNNER_CANCEL_STEP_MS,
      replyMaxBytes: e.POCKETCODER_RUNNER_REPLY_MAX_BYTES,
      queueMax: e.POCKETCODER_RUNNER_QUEUE_MAX,
      historyLimit: e.POCKETCODER_RUNNER_HISTORY_LIMIT,
      pollMs: 100,
      paneCheckMs: 1000,
      readyTimeoutMs: 15_000,
      retentionMs: e.POCKETCODER_RUNNER_RETENTION_HOURS * 3_600_000,
    },
  };
}

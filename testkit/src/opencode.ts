// Starts the real `opencode serve` for a test, wired to a scripted model endpoint, with the same
// config generator and supervisor the bot uses. Each call gets fresh temporary data and project dirs.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OpencodeClient } from "@opencode-ai/sdk/v2";
import { buildOpencodeConfig, parseAgentSettings, type PermissionValue } from "../../bot/src/agent/opencode-config.ts";
import { OpencodeProcess } from "../../bot/src/agent/opencode-process.ts";
import type { ScriptedLlm } from "./scripted-llm.ts";

export type TestOpencode = {
  proc: OpencodeProcess;
  client: OpencodeClient;
  /** The project directory sessions run in (a fresh temporary folder unless given). */
  directory: string;
  dataDir: string;
  stop(): Promise<void>;
};

export async function startTestOpencode(opts: {
  llm: ScriptedLlm;
  directory?: string;
  /** Absolute path of the shell the bash tool uses (the shim); omitted = opencode's own choice. */
  shellPath?: string;
  pluginPaths?: string[];
  permission?: Record<string, PermissionValue>;
  /** Extra environment for opencode and the shell it spawns. */
  env?: Record<string, string>;
}): Promise<TestOpencode> {
  const dataDir = await mkdtemp(join(tmpdir(), "pc-opencode-data-"));
  const ownDir = opts.directory === undefined;
  const directory = opts.directory ?? (await mkdtemp(join(tmpdir(), "pc-opencode-project-")));
  const agent = parseAgentSettings({ provider: "openai-compatible", model: "scripted-model", baseURL: opts.llm.baseURL });
  const launch = buildOpencodeConfig({
    agent,
    apiKey: "test-key",
    ...(opts.shellPath ? { shellPath: opts.shellPath } : {}),
    ...(opts.pluginPaths ? { pluginPaths: opts.pluginPaths } : {}),
    ...(opts.permission ? { permission: opts.permission } : {}),
  });
  const proc = await OpencodeProcess.start({ dataDir, directory, launch, ...(opts.env ? { env: opts.env } : {}), restartDelayMs: 200 });
  return {
    proc,
    get client() {
      return proc.client;
    },
    directory,
    dataDir,
    async stop() {
      await proc.stop();
      await rm(dataDir, { recursive: true, force: true });
      if (ownDir) await rm(directory, { recursive: true, force: true });
    },
  };
}

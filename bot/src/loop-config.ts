// The configuration of the loop (issue 5): the agent (`agent`, E's AgentSettings), the workspace the
// projects live in, the runner that executes commands, and the policy. The loop is on when `agent`
// is set; then the other sections are required. `agent` comes from pocketcoder.yaml only (it is
// nested); the rest may also come from the environment, under the same names the runner and the
// shell shim read, so one environment serves every process. Errors name the field and its source.
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { AgentSettings, parseAgentSettings } from "./agent/opencode-config.ts";

export interface RunnerSettings {
  /** A unix socket path or an http://host:port URL: what RunnerClient and the shim take. */
  endpoint: string;
  /** The bearer token for the runner's bot-side API (read from the token file). */
  token: string;
  tokenFile: string;
}

export interface LoopConfig {
  agent: AgentSettings;
  /** Real path (no symlinks) of the folder the project folders live in, shared with the runner. */
  workspace: string;
  runner: RunnerSettings;
  /** A policy file or a folder of them. */
  policy: string;
}

/** The yaml keys of the loop; their values are checked here, with the field named in each error. */
export const LoopYaml = {
  agent: z.unknown(),
  workspace: z.string(),
  runner: z.strictObject({ endpoint: z.string().optional(), tokenFile: z.string().optional() }),
  policy: z.string(),
};
type LoopYamlData = { agent?: unknown; workspace?: string; runner?: { endpoint?: string | undefined; tokenFile?: string | undefined }; policy?: string };

export const loopEnvNames = {
  workspace: "POCKETCODER_WORKSPACE",
  endpoint: "POCKETCODER_RUNNER",
  tokenFile: "POCKETCODER_RUNNER_TOKEN_FILE",
  policy: "POCKETCODER_POLICY",
} as const;

export interface LoopSources {
  yaml: LoopYamlData;
  env: NodeJS.ProcessEnv;
  /** Where the yaml file is (relative yaml paths resolve from its folder), or null. */
  file: string | null;
  fileDir: string;
  cwd: string;
}

/** `{ config }` when the loop is configured, `{}` when it is off (no `agent`), or the problems. */
export function readLoopConfig(src: LoopSources): { config?: LoopConfig; problems: string[] } {
  const problems: string[] = [];
  const where = (key: string) => `${key} in ${src.file}`;
  const env = (name: string) => (src.env[name] === undefined || src.env[name] === "" ? undefined : src.env[name]);
  /** The value and a label for it: the environment wins over the file; relative paths resolve from the file or cwd. */
  const path = (envName: string, yamlKey: string, yamlValue: string | undefined): { value: string; label: string } | undefined => {
    const fromEnv = env(envName);
    if (fromEnv !== undefined) return { value: resolve(src.cwd, fromEnv), label: envName };
    if (yamlValue !== undefined) return { value: resolve(src.fileDir, yamlValue), label: where(yamlKey) };
    return undefined;
  };

  const loopKeys = ["workspace", "runner", "policy"] as const;
  if (src.yaml.agent === undefined) {
    const stray = loopKeys.filter((k) => src.yaml[k] !== undefined);
    if (stray.length) problems.push(`${stray.map(where).join(", ")}: only used with an agent section; add one (see README: Choosing a provider and model)`);
    return { problems };
  }

  let agent: AgentSettings | undefined;
  try {
    agent = parseAgentSettings(src.yaml.agent);
  } catch (e) {
    problems.push(...(e as Error).message.split("\n").slice(1).map((line) => `${line} (in ${src.file})`));
  }

  const required = (label: string) => `${label}: is required when the agent is configured`;

  let workspace: string | undefined;
  const ws = path(loopEnvNames.workspace, "workspace", src.yaml.workspace);
  if (!ws) problems.push(required(`${loopEnvNames.workspace} (or workspace in ${src.file})`));
  else if (!existsSync(ws.value) || !statSync(ws.value).isDirectory()) problems.push(`${ws.label}: ${ws.value} is not an existing folder`);
  // Commands report their cwd without symlinks; grants must name the same path.
  else workspace = realpathSync(ws.value);

  const endpointRaw = env(loopEnvNames.endpoint) ?? src.yaml.runner?.endpoint;
  const endpointLabel = env(loopEnvNames.endpoint) !== undefined ? loopEnvNames.endpoint : where("runner.endpoint");
  let endpoint: string | undefined;
  if (endpointRaw === undefined) problems.push(required(`${loopEnvNames.endpoint} (or runner.endpoint in ${src.file})`));
  else {
    const parsed = parseRunnerEndpoint(endpointRaw, src.cwd);
    if (typeof parsed === "string") endpoint = parsed;
    else problems.push(`${endpointLabel}: ${parsed.problem}`);
  }

  let token: { token: string; tokenFile: string } | undefined;
  const tf = path(loopEnvNames.tokenFile, "runner.tokenFile", src.yaml.runner?.tokenFile);
  if (!tf) problems.push(required(`${loopEnvNames.tokenFile} (or runner.tokenFile in ${src.file})`));
  else {
    const read = readToken(tf.value);
    if (typeof read === "string") token = { token: read, tokenFile: tf.value };
    else problems.push(`${tf.label}: ${read.problem}`);
  }

  const pol = path(loopEnvNames.policy, "policy", src.yaml.policy) ?? { value: resolve(src.cwd, "policies"), label: `${loopEnvNames.policy} (default ./policies)` };
  if (!existsSync(pol.value)) problems.push(`${pol.label}: ${pol.value} does not exist; point it at a policy file or a folder of them`);

  if (problems.length || !agent || !workspace || !endpoint || !token) return { problems };
  return { config: { agent, workspace, runner: { endpoint, ...token }, policy: pol.value }, problems };
}

/** `unix:/p`, `/p` (a socket) or `http://host:port` → what RunnerClient and the shim accept. */
export function parseRunnerEndpoint(text: string, cwd: string): string | { problem: string } {
  if (text.startsWith("unix:")) return resolve(cwd, text.slice(5));
  if (text.startsWith("/")) return text;
  const m = /^http:\/\/(localhost|\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})\/?$/.exec(text);
  if (m) return `http://${m[1]}:${m[2]}`;
  return { problem: `must be a socket path (unix:/path or /path) or http://IPv4:port, got ${JSON.stringify(text)}` };
}

function readToken(path: string): string | { problem: string } {
  try {
    const token = readFileSync(path, "utf8").trim();
    return token.length >= 16 ? token : { problem: `the token in ${path} is shorter than 16 characters` };
  } catch (e) {
    return { problem: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
}

// Builds the OpenCode configuration from PocketCoder's `agent` settings. Pure: no files, no env reads.
// The result goes to `opencode serve` as OPENCODE_CONFIG_CONTENT (see opencode-process.ts).
import { pathToFileURL } from "node:url";
import { isAbsolute } from "node:path";
import type { Config } from "@opencode-ai/sdk/v2";
import { z } from "zod";

// The providers PocketCoder documents. Each maps to a provider bundled in the opencode binary, so
// nothing is installed at run time. `openai-compatible` covers Ollama, vLLM, LM Studio, llama.cpp …
export const builtinProviders = {
  anthropic: { id: "anthropic", keyEnv: "ANTHROPIC_API_KEY" },
  openai: { id: "openai", keyEnv: "OPENAI_API_KEY" },
  google: { id: "google", keyEnv: "GOOGLE_GENERATIVE_AI_API_KEY" },
  openrouter: { id: "openrouter", keyEnv: "OPENROUTER_API_KEY" },
} as const;

// The variable the key reaches opencode through; the config refers to it as `{env:…}` so the key
// itself never appears in the config text (which may be logged or shown by `opencode debug config`).
export const agentKeyEnv = "POCKETCODER_AGENT_API_KEY";

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name");
const modelId = z.string().trim().min(1, "must name a model");

const keySource = {
  /** Name of the variable in the bot's environment that holds the API key. */
  apiKeyEnv: envName.optional(),
  /** The key itself (prefer apiKeyEnv; a key in a config file is easy to leak). */
  apiKey: z.string().min(1).optional(),
};

const common = {
  model: modelId,
  /** Model for opencode's title and summary helpers; defaults to `model`. */
  smallModel: modelId.optional(),
};

export const AgentSettings = z.discriminatedUnion("provider", [
  z.strictObject({ provider: z.literal("anthropic"), ...common, ...keySource }),
  z.strictObject({ provider: z.literal("openai"), ...common, ...keySource }),
  z.strictObject({ provider: z.literal("google"), ...common, ...keySource }),
  z.strictObject({ provider: z.literal("openrouter"), ...common, ...keySource }),
  z.strictObject({
    provider: z.literal("openai-compatible"),
    ...common,
    ...keySource,
    /** e.g. http://127.0.0.1:11434/v1 for Ollama. */
    baseURL: z.url({ protocol: /^https?$/, error: "must be an http(s) URL such as http://127.0.0.1:11434/v1" }),
    /** The provider id shown in opencode (`<providerId>/<model>`). */
    providerId: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "must be lowercase letters, digits and dashes").default("local"),
    /** Context window and output limit of the model, in tokens. */
    contextLimit: z.number().int().positive().default(32_000),
    outputLimit: z.number().int().positive().default(4_096),
  }),
]);
export type AgentSettings = z.infer<typeof AgentSettings>;

/** Parses `agent` settings; errors name the field, e.g. `agent.baseURL: must be an http(s) URL …`. */
export function parseAgentSettings(input: unknown, path = "agent"): AgentSettings {
  const result = AgentSettings.safeParse(input);
  if (result.success) return result.data;
  const at = (...keys: PropertyKey[]) => [path, ...keys.map(String)].join(".");
  const provider = (input as { provider?: unknown } | null)?.provider;
  const lines = result.error.issues.flatMap((i) =>
    i.code === "unrecognized_keys" ? i.keys.map((k) => `${at(...i.path, k)}: not a setting for provider ${JSON.stringify(provider)}`) : [`${at(...i.path)}: ${i.message}`],
  );
  throw new Error(`invalid agent settings\n${lines.join("\n")}`);
}

/** Where the key comes from: the variable named by apiKeyEnv, the inline key, or the provider's usual variable. */
export function resolveApiKey(settings: AgentSettings, env: NodeJS.ProcessEnv): string | undefined {
  if (settings.apiKeyEnv) return env[settings.apiKeyEnv] || undefined;
  if (settings.apiKey) return settings.apiKey;
  if (settings.provider === "openai-compatible") return undefined;
  return env[builtinProviders[settings.provider].keyEnv] || undefined;
}

export type PermissionValue = "ask" | "allow" | "deny" | Record<string, "ask" | "allow" | "deny">;

export type OpencodeConfigInput = {
  agent: AgentSettings;
  /** The API key (from resolveApiKey); passed to opencode through `agentKeyEnv`, never inline. */
  apiKey: string | undefined;
  /** Absolute path of the shell the bash tool runs (`sandbox/bin/pocketcoder-shell`). Omit only in tests. */
  shellPath?: string;
  /** Absolute paths of plugin files to load (the session-env plugin). */
  pluginPaths?: string[];
  /** Extra permission entries, appended after the defaults (so they win: the last match decides). */
  permission?: Record<string, PermissionValue>;
};

export type OpencodeLaunchConfig = {
  config: Config;
  /** Variables opencode needs in its environment for this config (the API key). */
  env: Record<string, string>;
};

// Everything asks: opencode's effective default is allow, so anything not set here would pass silently.
// The question tool is denied, which hides it from the model: the agent asks in its reply instead and
// the person answers with their next message, which joins the turn like any other message.
const basePermission: Record<string, PermissionValue> = { "*": "ask", question: "deny" };

export function buildOpencodeConfig(input: OpencodeConfigInput): OpencodeLaunchConfig {
  for (const [field, p] of [["shellPath", input.shellPath], ...(input.pluginPaths ?? []).map((p, i) => [`pluginPaths.${i}`, p])] as const)
    if (p !== undefined && !isAbsolute(p)) throw new Error(`${field}: must be an absolute path, got ${JSON.stringify(p)}`);

  const { agent } = input;
  const providerId = agent.provider === "openai-compatible" ? agent.providerId : builtinProviders[agent.provider].id;
  const env: Record<string, string> = input.apiKey ? { [agentKeyEnv]: input.apiKey } : {};
  const apiKeyOption = input.apiKey ? { apiKey: `{env:${agentKeyEnv}}` } : {};

  const provider: NonNullable<Config["provider"]> =
    agent.provider === "openai-compatible"
      ? {
          [providerId]: {
            npm: "@ai-sdk/openai-compatible",
            name: providerId,
            // A local server may need no key; the SDK still wants a value for the header.
            options: { baseURL: agent.baseURL, apiKey: "none", ...apiKeyOption },
            models: Object.fromEntries(
              [...new Set([agent.model, agent.smallModel ?? agent.model])].map((m) => [
                m,
                { name: m, tool_call: true, limit: { context: agent.contextLimit, output: agent.outputLimit } },
              ]),
            ),
          },
        }
      : { [providerId]: { options: { ...apiKeyOption } } };

  const config: Config = {
    $schema: "https://opencode.ai/config.json",
    autoupdate: false,
    share: "disabled",
    enabled_providers: [providerId],
    model: `${providerId}/${agent.model}`,
    small_model: `${providerId}/${agent.smallModel ?? agent.model}`,
    provider,
    permission: { ...basePermission, ...input.permission },
    // LSP servers and formatters would run programs on the opencode host, outside the grant check.
    lsp: false,
    formatter: false,
    ...(input.shellPath ? { shell: input.shellPath } : {}),
    ...(input.pluginPaths?.length ? { plugin: input.pluginPaths.map((p) => pathToFileURL(p).href) } : {}),
  };
  return { config, env };
}

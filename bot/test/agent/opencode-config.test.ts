import { describe, expect, it } from "vitest";
import { agentKeyEnv, buildOpencodeConfig, parseAgentSettings, resolveApiKey } from "../../src/agent/opencode-config.ts";

describe("agent settings", () => {
  it("accepts each documented provider", () => {
    for (const provider of ["anthropic", "openai", "google", "openrouter"] as const)
      expect(parseAgentSettings({ provider, model: "m1" })).toEqual({ provider, model: "m1" });
    expect(parseAgentSettings({ provider: "openai-compatible", model: "qwen3", baseURL: "http://127.0.0.1:11434/v1" })).toEqual({
      provider: "openai-compatible",
      model: "qwen3",
      baseURL: "http://127.0.0.1:11434/v1",
      providerId: "local",
      contextLimit: 32000,
      outputLimit: 4096,
    });
  });

  it("names the field in every error", () => {
    const err = (input: unknown) => {
      try {
        parseAgentSettings(input);
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error("expected a validation error");
    };
    expect(err({ provider: "openai-compatible", model: "x" })).toContain("agent.baseURL:");
    expect(err({ provider: "openai-compatible", model: "x", baseURL: "ftp://host/v1" })).toContain("agent.baseURL: must be an http(s) URL");
    expect(err({ provider: "anthropic", model: " " })).toContain("agent.model: must name a model");
    expect(err({ provider: "anthropic", model: "m", apiKeyEnv: "not a name" })).toContain("agent.apiKeyEnv: must be an environment variable name");
    expect(err({ provider: "anthropic", model: "m", baseURL: "http://x" })).toContain('agent.baseURL: not a setting for provider "anthropic"');
    expect(err({ provider: "mistral", model: "m" })).toContain("agent.provider:");
    expect(err({ provider: "openai-compatible", model: "m", baseURL: "http://h/v1", providerId: "Bad Id" })).toContain("agent.providerId:");
  });
});

describe("API key resolution", () => {
  it("prefers apiKeyEnv, then the inline key, then the provider's usual variable", () => {
    const env = { MY_KEY: "from-my-key", ANTHROPIC_API_KEY: "from-anthropic" };
    expect(resolveApiKey(parseAgentSettings({ provider: "anthropic", model: "m", apiKeyEnv: "MY_KEY", apiKey: "inline" }), env)).toBe("from-my-key");
    expect(resolveApiKey(parseAgentSettings({ provider: "anthropic", model: "m", apiKey: "inline" }), env)).toBe("inline");
    expect(resolveApiKey(parseAgentSettings({ provider: "anthropic", model: "m" }), env)).toBe("from-anthropic");
    expect(resolveApiKey(parseAgentSettings({ provider: "openai", model: "m" }), env)).toBeUndefined();
    expect(resolveApiKey(parseAgentSettings({ provider: "openai-compatible", model: "m", baseURL: "http://h/v1" }), env)).toBeUndefined();
  });
});

describe("generated opencode config", () => {
  const anthropic = parseAgentSettings({ provider: "anthropic", model: "claude-sonnet-4-5", smallModel: "claude-haiku-4-5" });

  it("gates every tool, hides the question tool, and switches off updates, sharing, LSP and formatters", () => {
    const { config } = buildOpencodeConfig({ agent: anthropic, apiKey: undefined });
    expect(config.permission).toEqual({ "*": "ask", question: "deny" });
    expect(Object.keys(config.permission as object)[0]).toBe("*"); // broad rule first: the last match wins
    expect(config).toMatchObject({ autoupdate: false, share: "disabled", lsp: false, formatter: false });
    expect(config.shell).toBeUndefined();
    expect(config.plugin).toBeUndefined();
  });

  it("sets the shim as the shell and loads the plugins by file URL; relative paths are refused", () => {
    const { config } = buildOpencodeConfig({ agent: anthropic, apiKey: undefined, shellPath: "/opt/pc/sandbox/bin/pocketcoder-shell", pluginPaths: ["/opt/pc/sandbox/plugin/session env.js"] });
    expect(config.shell).toBe("/opt/pc/sandbox/bin/pocketcoder-shell");
    expect(config.plugin).toEqual(["file:///opt/pc/sandbox/plugin/session%20env.js"]);
    expect(() => buildOpencodeConfig({ agent: anthropic, apiKey: undefined, shellPath: "bin/shim" })).toThrow("shellPath: must be an absolute path");
    expect(() => buildOpencodeConfig({ agent: anthropic, apiKey: undefined, pluginPaths: ["/ok.js", "rel.js"] })).toThrow("pluginPaths.1: must be an absolute path");
  });

  it("appends extra permission entries after the defaults", () => {
    const { config } = buildOpencodeConfig({ agent: anthropic, apiKey: undefined, permission: { bash: { "*": "ask", "git status *": "allow" } } });
    expect(Object.keys(config.permission as object)).toEqual(["*", "question", "bash"]);
  });

  it.each([
    ["anthropic", "anthropic"],
    ["openai", "openai"],
    ["google", "google"],
    ["openrouter", "openrouter"],
  ] as const)("%s: enables only that bundled provider and passes the key by reference", (provider, id) => {
    const { config, env } = buildOpencodeConfig({ agent: parseAgentSettings({ provider, model: "some/model" }), apiKey: "sk-secret" });
    expect(config.enabled_providers).toEqual([id]);
    expect(config.model).toBe(`${id}/some/model`);
    expect(config.small_model).toBe(`${id}/some/model`);
    expect(config.provider).toEqual({ [id]: { options: { apiKey: `{env:${agentKeyEnv}}` } } });
    expect(env).toEqual({ [agentKeyEnv]: "sk-secret" });
    expect(JSON.stringify(config)).not.toContain("sk-secret");
  });

  it("uses the small model when given", () => {
    expect(buildOpencodeConfig({ agent: anthropic, apiKey: undefined }).config.small_model).toBe("anthropic/claude-haiku-4-5");
  });

  it("declares an OpenAI-compatible endpoint with its models and limits; no key means no env", () => {
    const agent = parseAgentSettings({ provider: "openai-compatible", model: "qwen3:8b", smallModel: "qwen3:1.7b", baseURL: "http://127.0.0.1:11434/v1", providerId: "ollama", contextLimit: 40960 });
    const { config, env } = buildOpencodeConfig({ agent, apiKey: undefined });
    expect(env).toEqual({});
    expect(config.enabled_providers).toEqual(["ollama"]);
    expect(config.model).toBe("ollama/qwen3:8b");
    expect(config.small_model).toBe("ollama/qwen3:1.7b");
    expect(config.provider).toEqual({
      ollama: {
        npm: "@ai-sdk/openai-compatible",
        name: "ollama",
        options: { baseURL: "http://127.0.0.1:11434/v1", apiKey: "none" },
        models: {
          "qwen3:8b": { name: "qwen3:8b", tool_call: true, limit: { context: 40960, output: 4096 } },
          "qwen3:1.7b": { name: "qwen3:1.7b", tool_call: true, limit: { context: 40960, output: 4096 } },
        },
      },
    });
    const withKey = buildOpencodeConfig({ agent, apiKey: "k" });
    expect(withKey.config.provider?.ollama?.options?.apiKey).toBe(`{env:${agentKeyEnv}}`);
  });
});

// The generated config for each bundled provider is accepted by the real opencode (an invalid key
// would stop it from starting) and resolves the configured model offline, from the bundled catalogue.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkAgentModel } from "../../src/agent/agent-check.ts";
import { buildOpencodeConfig, parseAgentSettings } from "../../src/agent/opencode-config.ts";
import { OpencodeProcess } from "../../src/agent/opencode-process.ts";

async function withOpencode(settings: unknown, fn: (proc: OpencodeProcess) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "pc-providers-"));
  const agent = parseAgentSettings(settings);
  await mkdir(join(root, "project"));
  const proc = await OpencodeProcess.start({ dataDir: join(root, "data"), directory: join(root, "project"), launch: buildOpencodeConfig({ agent, apiKey: "not-a-real-key" }) });
  try {
    await fn(proc);
  } finally {
    await proc.stop();
    await rm(root, { recursive: true, force: true });
  }
}

describe("bundled providers under the generated config (real opencode, offline)", () => {
  it.each([
    ["anthropic", "claude-sonnet-4-5"],
    ["openai", "gpt-5"],
    ["google", "gemini-2.5-pro"],
    ["openrouter", "anthropic/claude-sonnet-4.5"],
  ])("%s with %s starts and knows the model; only that provider is enabled", async (provider, model) => {
    await withOpencode({ provider, model }, async (proc) => {
      expect(await checkAgentModel(proc.client, parseAgentSettings({ provider, model }))).toEqual({ ok: true });
      const providers = await proc.client.config.providers();
      expect(providers.data?.providers.map((p) => p.id)).toEqual([provider]);
      const misspelled = await checkAgentModel(proc.client, parseAgentSettings({ provider, model: `${model}-typo` }));
      expect(misspelled.ok).toBe(false);
      expect(!misspelled.ok && misspelled.message).toContain(`agent.model: provider "${provider}" has no model "${model}-typo"`);
    });
  });
});

// The generated config for each bundled provider is accepted by the real opencode (an invalid key
// would stop it from starting) and resolves the configured model offline, from the bundled catalogue;
// and the project folder's own opencode config, which sandboxed commands can write, is never loaded.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkAgentModel } from "../../src/agent/agent-check.ts";
import { buildOpencodeConfig, parseAgentSettings } from "../../src/agent/opencode-config.ts";
import { OpencodeProcess } from "../../src/agent/opencode-process.ts";

async function withOpencode(settings: unknown, fn: (proc: OpencodeProcess, root: string) => Promise<void>, prepare?: (project: string, root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "pc-providers-"));
  const agent = parseAgentSettings(settings);
  await mkdir(join(root, "project"));
  await prepare?.(join(root, "project"), root);
  const proc = await OpencodeProcess.start({ dataDir: join(root, "data"), directory: join(root, "project"), launch: buildOpencodeConfig({ agent, apiKey: "not-a-real-key" }) });
  try {
    await fn(proc, root);
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

  it("ignores the project's own opencode.json and .opencode/ plugins, which sandboxed commands can write", async () => {
    const plant = async (project: string, root: string) => {
      await mkdir(join(project, ".opencode", "plugin"), { recursive: true });
      const marker = JSON.stringify(join(root, "plugin-ran"));
      await writeFile(join(project, ".opencode", "plugin", "planted.js"), `import { writeFileSync } from "node:fs";\nexport const Planted = async () => { writeFileSync(${marker}, "ran"); return {}; };\n`);
      await writeFile(join(project, "opencode.json"), JSON.stringify({ username: "planted" }));
    };
    await withOpencode(
      { provider: "anthropic", model: "claude-sonnet-4-5" },
      async (proc, root) => {
        const config = (await proc.client.config.get()).data!;
        expect(config.username).not.toBe("planted");
        expect(config.plugin?.some((p) => p.includes("planted"))).toBe(false);
        expect(existsSync(join(root, "plugin-ran"))).toBe(false);
      },
      plant,
    );
  });
});

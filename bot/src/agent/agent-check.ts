// Asks a running opencode whether the configured provider and model exist, so a typo in the model
// name is reported at start-up (and by `pocketcoder doctor`) rather than on the first prompt.
import type { OpencodeClient } from "@opencode-ai/sdk/v2";
import { builtinProviders, type AgentSettings } from "./opencode-config.ts";

export type AgentCheck = { ok: true } | { ok: false; message: string };

export async function checkAgentModel(client: OpencodeClient, settings: AgentSettings): Promise<AgentCheck> {
  const providerID = settings.provider === "openai-compatible" ? settings.providerId : builtinProviders[settings.provider].id;
  const r = await client.config.providers();
  if (!r.data) return { ok: false, message: `could not list opencode's providers: ${JSON.stringify(r.error)}` };
  const provider = r.data.providers.find((p) => p.id === providerID);
  if (!provider) return { ok: false, message: `opencode does not offer provider "${providerID}" (agent.provider)` };
  for (const [field, model] of [["agent.model", settings.model], ["agent.smallModel", settings.smallModel]] as const) {
    if (model === undefined || model in provider.models) continue;
    const near = Object.keys(provider.models).filter((m) => m.includes(model.split(/[-/.]/)[0] ?? model)).slice(0, 5);
    return { ok: false, message: `${field}: provider "${providerID}" has no model "${model}"${near.length ? `; similar: ${near.join(", ")}` : ""}` };
  }
  return { ok: true };
}

// `pocketcoder doctor` against a real runner process: the loop's checks (runner, policy, agent) say
// what is wrong and where, and a broken part fails the run.
import { mkdtempSync, mkdirSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killTmux, startRunner } from "@pocketcoder/testkit/stack";
import { runDoctor } from "../../src/cli/doctor-command.ts";

const dir = realpathSync(mkdtempSync(join(tmpdir(), "pocketcoder-doctor-")));
const workspace = join(dir, "workspace");
const token = "doctor-test-token-0123456789";
let runner: Awaited<ReturnType<typeof startRunner>>;

beforeAll(async () => {
  mkdirSync(workspace);
  mkdirSync(join(dir, "state"));
  writeFileSync(join(dir, "runner-token"), token, { mode: 0o600 });
  writeFileSync(join(dir, "wrong-token"), "not-the-token-0123456789", { mode: 0o600 });
  writeFileSync(join(dir, "broken.yaml"), "version: 1\nrules:\n  - id: x\n    decision: maybe\n");
  runner = await startRunner({ workspace, state: join(dir, "state"), tokenFile: join(dir, "runner-token"), token, env: {} });
});
afterAll(async () => {
  runner?.kill();
  await runner?.exited;
  await killTmux(join(dir, "state"));
});

/** Doctor's checks for a configuration whose loop section is `loop` (yaml lines). */
async function doctor(loop: string, env: Record<string, string> = {}) {
  const file = join(dir, `pocketcoder-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, loop);
  const checks = await runDoctor(
    {
      POCKETCODER_HOMESERVER_URL: "http://127.0.0.1:9",
      POCKETCODER_USER_ID: "@bot:example.org",
      POCKETCODER_DATA_DIR: join(dir, "data"),
      POCKETCODER_CONFIG: file,
      ...env,
    },
    dir,
  );
  return Object.fromEntries(checks.map((c) => [c.name, c]));
}

const compatible = "agent:\n  provider: openai-compatible\n  model: qwen\n  baseURL: http://127.0.0.1:11434/v1\n";
const loop = (agent: string, policy: string, tokenFile: string) =>
  `${agent}workspace: ${workspace}\nrunner:\n  endpoint: ${runner.endpoint}\n  tokenFile: ${tokenFile}\npolicy: ${policy}\n`;
const policies = join(import.meta.dirname, "../../../policies");

describe("pocketcoder doctor: the loop", () => {
  it("reports a runner that answers, the policy it would load and the agent's binary and model", async () => {
    const c = await doctor(loop(compatible, policies, join(dir, "runner-token")));
    expect(["ok", "warn"]).toContain(c.runner!.status);
    expect(c.runner!.detail).toContain(`${runner.endpoint} answers; sandbox`);
    expect(c.policy).toMatchObject({ status: "ok" });
    expect(c.policy!.detail).toMatch(/default\.yaml: \d+ rules, hash [0-9a-f]{12}/);
    expect(c.agent).toMatchObject({ status: "ok" });
    expect(c.agent!.detail).toMatch(/opencode at .+; model openai-compatible\/qwen/);
    expect(c["agent key"]).toBeUndefined();
  });

  it("fails a runner that refuses the bot's token, a policy that does not load and a missing API key", async () => {
    const c = await doctor(loop("agent:\n  provider: anthropic\n  model: claude-sonnet-4-5\n", join(dir, "broken.yaml"), join(dir, "wrong-token")), { ANTHROPIC_API_KEY: "" });
    expect(c.runner).toMatchObject({ status: "FAIL" });
    expect(c.runner!.detail).toContain(runner.endpoint);
    expect(c.policy).toMatchObject({ status: "FAIL" });
    expect(c.policy!.detail).toContain("broken.yaml");
    expect(c["agent key"]).toEqual({ status: "FAIL", name: "agent key", detail: "no API key for anthropic: ANTHROPIC_API_KEY is not set" });
  });

  it("fails a runner that is not there, naming its endpoint", async () => {
    const c = await doctor(loop(compatible, policies, join(dir, "runner-token")).replace(runner.endpoint, join(dir, "nothing.sock")));
    expect(c.runner).toMatchObject({ status: "FAIL" });
    expect(c.runner!.detail).toContain(join(dir, "nothing.sock"));
  });

  it("warns when no agent is configured", async () => {
    const c = await doctor("");
    expect(c.agent).toMatchObject({ status: "warn" });
  });
});

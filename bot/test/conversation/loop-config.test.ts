import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatConfigProblems, loadConfig, type ConfigResult } from "../../src/config.ts";

const root = mkdtempSync(join(tmpdir(), "pc-loop-config-"));
const workspace = join(root, "workspace");
mkdirSync(workspace);
symlinkSync(workspace, join(root, "ws-link"));
writeFileSync(join(root, "token"), "0123456789abcdef0123\n");
writeFileSync(join(root, "short-token"), "abc\n");
mkdirSync(join(root, "policies"));
const base = { POCKETCODER_HOMESERVER_URL: "https://m.example.org", POCKETCODER_USER_ID: "@bot:example.org", POCKETCODER_DATA_DIR: join(root, "data") };
const agent = "agent:\n  provider: openai-compatible\n  model: m\n  baseURL: http://127.0.0.1:9/v1\n";

function load(yaml: string, env: Record<string, string> = {}): ConfigResult {
  const file = join(root, `c-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  return loadConfig({ env: { ...base, POCKETCODER_CONFIG: file, ...env }, cwd: root });
}
const problems = (r: ConfigResult) => (r.ok ? [] : r.problems);

describe("the loop's configuration", () => {
  it("is off without an agent section, and the rest of the config is unchanged", () => {
    const r = load("allowUnencrypted: false\n");
    expect(r.ok && r.config.loop).toBeUndefined();
  });

  it("reads agent, workspace (as its real path), runner and policy, relative to the file", () => {
    const r = load(`${agent}workspace: ws-link\nrunner:\n  endpoint: unix:runner.sock\n  tokenFile: token\npolicy: policies\n`);
    if (!r.ok) throw new Error(formatConfigProblems(r.problems));
    expect(r.config.loop).toEqual({
      agent: expect.objectContaining({ provider: "openai-compatible", model: "m" }),
      workspace,
      runner: { endpoint: join(root, "runner.sock"), token: "0123456789abcdef0123", tokenFile: join(root, "token") },
      policy: join(root, "policies"),
    });
  });

  it("takes the environment over the file, under the runner's own variable names", () => {
    const r = load(`${agent}workspace: nowhere\nrunner:\n  endpoint: /nope.sock\n  tokenFile: nope\n`, {
      POCKETCODER_WORKSPACE: workspace,
      POCKETCODER_RUNNER: "http://127.0.0.1:7777",
      POCKETCODER_RUNNER_TOKEN_FILE: join(root, "token"),
      POCKETCODER_POLICY: join(root, "policies"),
    });
    expect(r.ok && r.config.loop?.runner.endpoint).toBe("http://127.0.0.1:7777");
    expect(r.ok && r.config.loop?.workspace).toBe(workspace);
  });

  it("names each missing or bad field and where it came from", () => {
    const p = problems(load(agent));
    expect(p.some((l) => /^POCKETCODER_WORKSPACE \(or workspace in .*\.yaml\): is required when the agent is configured$/.test(l))).toBe(true);
    expect(p.some((l) => l.startsWith("POCKETCODER_RUNNER (or runner.endpoint in ") && l.endsWith("is required when the agent is configured"))).toBe(true);
    expect(p.some((l) => l.startsWith("POCKETCODER_RUNNER_TOKEN_FILE (or runner.tokenFile in "))).toBe(true);

    const bad = problems(load(`${agent}workspace: missing\nrunner:\n  endpoint: ftp://x\n  tokenFile: short-token\n`, { POCKETCODER_POLICY: join(root, "none") }));
    expect(bad.some((l) => /^workspace in .*: .*missing is not an existing folder$/.test(l))).toBe(true);
    expect(bad.some((l) => /^runner\.endpoint in .*: must be a socket path \(unix:\/path or \/path\) or http:\/\/IPv4:port, got "ftp:\/\/x"$/.test(l))).toBe(true);
    expect(bad.some((l) => /^runner\.tokenFile in .*: the token in .*short-token is shorter than 16 characters$/.test(l))).toBe(true);
    expect(bad.some((l) => l.startsWith("POCKETCODER_POLICY: ") && l.endsWith("does not exist; point it at a policy file or a folder of them"))).toBe(true);
  });

  it("reports the agent section's own errors with the field", () => {
    const p = problems(load("agent:\n  provider: openai-compatible\n  model: m\n  baseURL: not-a-url\n"));
    expect(p.some((l) => l.startsWith("agent.baseURL: must be an http(s) URL"))).toBe(true);
  });

  it("refuses loop keys without an agent", () => {
    const p = problems(load("workspace: ws-link\n"));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^workspace in .*: only used with an agent section/);
  });
});

// `pocketcoder policy check|lint` through the real bin script: one JSON object per check, exit 0
// for every decision (unparseable commands included), 2 for misuse.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../../..");
const BIN = join(ROOT, "bot/bin/pocketcoder.js");
const dir = mkdtempSync(join(tmpdir(), "pc-policy-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string> = {}) {
  const { POCKETCODER_POLICY: _ignored, ...base } = process.env;
  const r = spawnSync(process.execPath, [BIN, "policy", ...args], { cwd: dir, encoding: "utf8", env: { ...base, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(args: string[], env: Record<string, string> = {}) {
  const r = cli(["check", "--json", ...args], env);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const lines = r.stdout.trim().split("\n");
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as { decision: string; rule: string | null; risk: string | null; parts: { command: string; decision: string; rule: string | null }[]; reason: string };
}

describe("policy check --json", () => {
  it("prints exactly the documented keys", () => {
    const out = json(["--", "ls", "-la"]);
    expect(Object.keys(out)).toEqual(["decision", "rule", "risk", "parts", "reason"]);
    expect(out).toMatchObject({ decision: "allow", rule: "read-only-inspection", risk: "low", parts: [{ command: "ls -la", decision: "allow", rule: "read-only-inspection" }] });
    expect(Object.keys(out.parts[0]!)).toEqual(["command", "decision", "rule"]);
  });

  it("gives ask and deny decisions with exit 0", () => {
    expect(json(["--", "npm install"])).toMatchObject({ decision: "ask", rule: null, risk: "medium" });
    const denied = json(["--", "ls; cat ~/.ssh/id_rsa"]);
    expect(denied).toMatchObject({ decision: "deny", rule: "credentials", risk: "critical" });
    expect(denied.parts.map((p) => p.decision)).toEqual(["allow", "deny"]);
    expect(denied.reason).toMatch(/^Denied: /);
  });

  it("treats an unparseable command as a decision, not an error", () => {
    expect(json(["--", 'echo "unterminated'])).toMatchObject({ decision: "ask", rule: "builtin:parse-error" });
  });

  it("denies hidden characters and says which and where", () => {
    const out = json(["--", "ls\u202e -la"]);
    expect(out.decision).toBe("deny");
    expect(out.reason).toContain("U+202E (RIGHT-TO-LEFT OVERRIDE) at line 1, column 3 (byte 2)");
  });

  it("asks other tools about a path with --tool", () => {
    expect(json(["--tool", "edit", "--", ".env"])).toMatchObject({ decision: "deny", rule: "credentials" });
    expect(json(["--tool=webfetch", "--", "https://example.com"])).toMatchObject({ decision: "ask" });
  });

  it("reads the policy from --policy or POCKETCODER_POLICY", () => {
    const file = join(dir, "allow-make.yaml");
    writeFileSync(file, "version: 1\nrules:\n  - { id: make, decision: allow, command: make }\n");
    expect(json(["--policy", file, "--", "make"])).toMatchObject({ decision: "allow", rule: "make" });
    expect(json(["--", "make"], { POCKETCODER_POLICY: file })).toMatchObject({ decision: "allow", rule: "make" });
    expect(json(["--", "make"])).toMatchObject({ decision: "ask" });
  });
});

describe("policy check, readable", () => {
  it("summarises the decision, each part and the reason", () => {
    const r = cli(["check", "--", "git status && rm -rf /"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe("DENY (rule rm-recursive-system, risk critical)");
    expect(lines[1]).toMatch(/^ {2}allow +read-only-git +git status$/);
    expect(lines[2]).toMatch(/^ {2}deny +rm-recursive-system +rm -rf \/$/);
    expect(lines[3]).toMatch(/^Denied: /);
  });
});

describe("misuse exits 2", () => {
  it("without a command", () => {
    const r = cli(["check", "--json"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("no command given; put it after --");
  });

  it("with an invalid policy, naming the file, rule and field", () => {
    const file = join(dir, "team.yaml");
    writeFileSync(file, "version: 1\nrules:\n  - { id: a, decision: allow, command: ls }\n  - { id: b, decision: ask }\n  - { id: force-push, decision: ask, quorum: 0 }\n");
    const r = cli(["check", "--json", "--policy", file, "--", "ls"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`team.yaml: rule 3 ("force-push"): field "quorum": must be an integer ≥ 1`);
  });

  it("with an unreadable policy path", () => {
    const r = cli(["check", "--policy", join(dir, "nope"), "--", "ls"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nope: cannot read policy: ENOENT/);
  });

  it("with an unknown option or subcommand", () => {
    expect(cli(["check", "--jsn", "--", "ls"]).code).toBe(2);
    expect(cli(["frobnicate"]).code).toBe(2);
  });

  it("with a command or subcommand named like an Object method", () => {
    const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: "utf8" });
    for (const args of [["toString"], ["audit", "constructor"], ["policy", "hasOwnProperty"]]) {
      const r = run(args);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/unknown (sub|policy )?command "(toString|constructor|hasOwnProperty)"/);
    }
  });
});

describe("policy lint", () => {
  it("reports the rules and hash of a valid policy", () => {
    const r = cli(["lint"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok: 1 file \(.*policies\/default\.yaml\), \d+ rules, hash [0-9a-f]{64}\n$/);
  });

  it("exits 1 for an invalid policy", () => {
    const file = join(dir, "lint-bad.yaml");
    writeFileSync(file, "version: 1\nrules:\n  - { id: x, decision: sometimes }\n");
    const r = cli(["lint", "--policy", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`lint-bad.yaml: rule 1 ("x"): field "decision": must be "allow", "ask" or "deny"`);
  });
});

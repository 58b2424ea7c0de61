// Loading policies: every kind of mistake gets a message naming the file, the rule and the field;
// directories load in name order; the hash follows meaning, not formatting.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadPolicy, parsePolicyText, PolicyError, policyFromTexts } from "../../src/policy/index.ts";

const FILE = "policies/team.yaml";

function rules(yaml: string): string {
  return `version: 1\nrules:\n${yaml}`;
}

/** The message of the PolicyError that loading `text` as policies/team.yaml throws. */
async function errorOf(text: string): Promise<string> {
  const err = await policyFromTexts([{ name: FILE, text }]).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PolicyError);
  return (err as PolicyError).message;
}

const threeRules = (third: string) =>
  rules(`  - { id: a, decision: allow, command: "ls" }
  - { id: b, decision: ask, command: "make" }
${third}`);

describe("loader errors", () => {
  it.each([
    [
      "quorum below 1",
      threeRules(`  - id: force-push\n    decision: ask\n    command: "git push *"\n    quorum: 0\n`),
      `${FILE}: rule 3 ("force-push"): field "quorum": must be an integer ≥ 1`,
    ],
    [
      "quorum not an integer",
      threeRules(`  - id: force-push\n    decision: ask\n    quorum: 1.5\n`),
      `${FILE}: rule 3 ("force-push"): field "quorum": must be an integer ≥ 1`,
    ],
    ["unknown decision", rules(`  - { id: x, decision: maybe }\n`), `${FILE}: rule 1 ("x"): field "decision": must be "allow", "ask" or "deny"`],
    ["missing decision", rules(`  - { id: x }\n`), `${FILE}: rule 1 ("x"): field "decision": is required`],
    ["missing id", rules(`  - { decision: ask }\n`), `${FILE}: rule 1: field "id": is required`],
    ["bad id", rules(`  - { id: "no spaces", decision: ask }\n`), `${FILE}: rule 1 ("no spaces"): field "id": must be letters, digits, '.', '_' or '-'`],
    ["misspelt field", rules(`  - { id: x, decision: ask, quorom: 2 }\n`), `${FILE}: rule 1 ("x"): field "quorom": unknown field (did you mean "quorum"?)`],
    ["tool of the wrong type", rules(`  - { id: x, decision: ask, tool: 3 }\n`), `${FILE}: rule 1 ("x"): field "tool": must be a string or a list of strings`],
    ["bad approver", rules(`  - { id: x, decision: ask, approvers: { users: [bob] } }\n`), `${FILE}: rule 1 ("x"): field "approvers.users[0]": must be a Matrix user id such as @alice:example.org`],
    ["power level not an integer", rules(`  - { id: x, decision: ask, approvers: { minPowerLevel: high } }\n`), `${FILE}: rule 1 ("x"): field "approvers.minPowerLevel": must be an integer`],
    ["expiry over 24h", rules(`  - { id: x, decision: ask, expires: 2d }\n`), `${FILE}: rule 1 ("x"): field "expires": must be at most 24h`],
    ["expiry not a duration", rules(`  - { id: x, decision: ask, expires: soon }\n`), `${FILE}: rule 1 ("x"): field "expires": must be a duration such as "15m", "2h" or "1h30m"`],
    ["expiry under a minute", rules(`  - { id: x, decision: ask, expires: 10s }\n`), `${FILE}: rule 1 ("x"): field "expires": must be at least 1m`],
    ["risk label", rules(`  - { id: x, decision: ask, risk: scary }\n`), `${FILE}: rule 1 ("x"): field "risk": must be "low", "medium", "high" or "critical"`],
    ["ask-only field on a deny rule", rules(`  - { id: x, decision: deny, command: "rm *", quorum: 2 }\n`), `${FILE}: rule 1 ("x"): field "quorum": only applies when decision is "ask" (this rule says "deny")`],
    ["bash-only field for another tool", rules(`  - { id: x, decision: allow, tool: edit, argv: [ls] }\n`), `${FILE}: rule 1 ("x"): field "argv": only applies to the "bash" tool; add "bash" to "tool" or remove it`],
    ["redirect mixed with command fields", rules(`  - { id: x, decision: allow, redirect: "/tmp/**", command: "ls" }\n`), `${FILE}: rule 1 ("x"): field "redirect": a rule matches either redirections or commands; move "command" to a separate rule`],
    ["unclosed class in a glob", rules(`  - { id: x, decision: allow, command: ["ls", "ls [a"] }\n`), `${FILE}: rule 1 ("x"): field "command[1]": unclosed "[" in glob "ls [a"`],
    ["unclosed brace in a glob", rules(`  - { id: x, decision: deny, paths: "~/.{ssh,aws/**" }\n`), `${FILE}: rule 1 ("x"): field "paths": unclosed "{" in glob "~/.{ssh,aws/**"`],
    ["placeholder in a command glob", rules(`  - { id: x, decision: allow, command: "ls \${workspace}" }\n`), `${FILE}: rule 1 ("x"): field "command": \${workspace} only works in path globs`],
    ["empty argv", rules(`  - { id: x, decision: allow, argv: [] }\n`), `${FILE}: rule 1 ("x"): field "argv": must list at least one word`],
    ["dangerous rule with one approver", rules(`  - { id: x, decision: ask, dangerous: true, command: "npm publish", quorum: 1 }\n`), `${FILE}: rule 1 ("x"): field "quorum": must be at least 2 for a dangerous rule (four eyes)`],
    ["dangerous rule with self-approval", rules(`  - { id: x, decision: ask, dangerous: true, command: "npm publish", selfApproval: true }\n`), `${FILE}: rule 1 ("x"): field "selfApproval": must be false for a dangerous rule (the requester cannot approve)`],
    ["fewer listed approvers than the quorum", rules(`  - { id: x, decision: ask, quorum: 3, approvers: { users: ["@a:x.org", "@b:x.org"] } }\n`), `${FILE}: rule 1 ("x"): field "quorum": needs 3 approvers but "approvers.users" lists only 2`],
    ["bad defaults", `version: 1\ndefaults: { quorum: 0 }\nrules: []\n`, `${FILE}: defaults: field "quorum": must be an integer ≥ 1`],
    ["unknown top-level field", `version: 1\nrulez: []\nrules: []\n`, `${FILE}: field "rulez": unknown field (did you mean "rules"?)`],
    ["missing version", `rules: []\n`, `${FILE}: field "version": is required`],
    ["wrong version", `version: 2\nrules: []\n`, `${FILE}: field "version": must be 1`],
    ["missing rules", `version: 1\n`, `${FILE}: field "rules": is required`],
    ["rules not a list", `version: 1\nrules: {}\n`, `${FILE}: field "rules": must be a list of rules`],
    ["a rule that is not a map", rules(`  - allow everything\n`), `${FILE}: rule 1: must be a map`],
    ["not a map at all", `- 1\n- 2\n`, `${FILE}: must be a map with version, defaults and rules`],
    ["an empty file", ``, `${FILE}: must be a map with version, defaults and rules`],
    ["YAML syntax", `version: 1\nrules: [\n`, `${FILE}: line 3, column 1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`],
    ["duplicate keys", `version: 1\nversion: 1\nrules: []\n`, `${FILE}: line 2, column 1: invalid YAML: Map keys must be unique`],
  ])("%s", async (_name, text, message) => {
    expect(await errorOf(text)).toBe(message);
  });

  it("reports several problems, one per line", async () => {
    const message = await errorOf(rules(`  - { id: a, decision: ask, quorum: 0 }\n  - { id: b, decision: nope }\n`));
    expect(message.split("\n")).toEqual([
      `${FILE}: rule 1 ("a"): field "quorum": must be an integer ≥ 1`,
      `${FILE}: rule 2 ("b"): field "decision": must be "allow", "ask" or "deny"`,
    ]);
  });

  it("names both places when an id is used twice across files", async () => {
    const err = await policyFromTexts([
      { name: "policies/10-base.yaml", text: rules(`  - { id: a, decision: allow, command: ls }\n  - { id: shared, decision: ask }\n`) },
      { name: "policies/20-team.yaml", text: rules(`  - { id: shared, decision: deny, command: "rm *" }\n`) },
    ]).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`policies/20-team.yaml: rule 1 ("shared"): field "id": "shared" is already used by policies/10-base.yaml: rule 2 ("shared")`);
  });
});

describe("loading from disk", () => {
  const dir = mkdtempSync(join(tmpdir(), "pc-policy-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("loads a directory's YAML files in name order, later defaults overriding earlier ones", async () => {
    const d = join(dir, "ordered");
    mkdirSync(d);
    writeFileSync(join(d, "20-team.yml"), `version: 1\ndefaults: { quorum: 2 }\nrules:\n  - { id: second, decision: ask, command: make }\n`);
    writeFileSync(join(d, "10-base.yaml"), `version: 1\ndefaults: { quorum: 1, expires: 30m }\nrules:\n  - { id: first, decision: allow, command: ls }\n`);
    writeFileSync(join(d, "notes.txt"), "not a policy");
    const policy = await loadPolicy(d);
    expect(policy.rules.map((r) => r.id)).toEqual(["first", "second"]);
    expect(policy.files.map((f) => f.split("/").pop())).toEqual(["10-base.yaml", "20-team.yml"]);
    expect(policy.defaults.approval.quorum).toBe(2);
    expect(policy.defaults.approval.expiresInMs).toBe(30 * 60_000);
  });

  it("says when a directory holds no policy files", async () => {
    const d = join(dir, "empty");
    mkdirSync(d);
    await expect(loadPolicy(d)).rejects.toThrow(/empty: no policy files \(\*\.yaml or \*\.yml\) in this directory$/);
  });

  it("says when the path does not exist", async () => {
    await expect(loadPolicy(join(dir, "missing.yaml"))).rejects.toThrow(/missing\.yaml: cannot read policy: ENOENT$/);
  });

  it("names the file on disk in validation errors", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, rules(`  - { id: x, decision: ask, quorum: -1 }\n`));
    await expect(loadPolicy(file)).rejects.toThrow(`bad.yaml: rule 1 ("x"): field "quorum": must be an integer ≥ 1`);
  });
});

describe("policy hash", () => {
  const base = rules(`  - id: x\n    decision: allow\n    command: ls\n`);

  it("ignores comments, key order and formatting", async () => {
    const a = await policyFromTexts([{ name: "a.yaml", text: base }]);
    const b = await policyFromTexts([{ name: "b.yaml", text: `# comment\nrules: [ { command: "ls", decision: allow, id: x } ]\nversion: 1\n` }]);
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(b.hash).toBe(a.hash);
  });

  it("changes when a rule or a default changes", async () => {
    const a = await policyFromTexts([{ name: "a.yaml", text: base }]);
    const changedRule = await policyFromTexts([{ name: "a.yaml", text: base.replace("command: ls", "command: cat") }]);
    const changedDefault = await policyFromTexts([{ name: "a.yaml", text: base.replace("rules:", "defaults: { quorum: 2 }\nrules:") }]);
    expect(changedRule.hash).not.toBe(a.hash);
    expect(changedDefault.hash).not.toBe(a.hash);
  });

  it("parses one file's text without touching the disk", () => {
    const file = parsePolicyText(base, "inline.yaml");
    expect(file.name).toBe("inline.yaml");
    expect(file.data.rules[0]!.id).toBe("x");
  });
});

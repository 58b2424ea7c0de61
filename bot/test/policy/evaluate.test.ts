// evaluate() with small purpose-built policies: every rule field, the floors that rules cannot
// lift, how asks combine, and the shape of the decision.
import { describe, expect, it } from "vitest";
import { evaluate, type Policy, type PolicyRequest, policyFromTexts } from "../../src/policy/index.ts";

const WS = "/workspace/project";

function policy(yaml: string, defaults = ""): Promise<Policy> {
  return policyFromTexts([{ name: "test.yaml", text: `version: 1\n${defaults}rules:\n${yaml}` }]);
}

function bash(p: Policy, command: string, extra: Partial<PolicyRequest> = {}) {
  return evaluate({ tool: "bash", command, cwd: WS, workspace: WS, ...extra }, { policy: p });
}

describe("rule fields", () => {
  it("argv matches a literal prefix of the unquoted words", async () => {
    const p = await policy(`  - { id: git-status, decision: allow, argv: [git, status] }\n`);
    expect(bash(p, "git status -s").decision).toBe("allow");
    expect(bash(p, "'git' \"status\"").decision).toBe("allow");
    expect(bash(p, "git statusx").decision).toBe("ask");
    expect(bash(p, "git -c x=y status").decision).toBe("ask");
  });

  it("command globs match the normalised text, so spacing and quoting do not matter", async () => {
    const p = await policy(`  - { id: deny-rm-root, decision: deny, command: "rm -rf /" }\n`);
    expect(bash(p, "rm   -rf    /").rule).toBe("deny-rm-root");
    expect(bash(p, "rm '-rf' '/'").rule).toBe("deny-rm-root");
    expect(bash(p, "rm '-rf /'").rule).toBeNull();
  });

  it("hasArg, lacksArg and onlyArgs look at the arguments", async () => {
    const p = await policy(
      `  - { id: tar-list, decision: allow, argv: [tar], hasArg: ["-t*", "--list"], lacksArg: ["--to-command*"] }\n` +
        `  - { id: branch-list, decision: allow, argv: [git, branch], onlyArgs: ["-a", "-v"] }\n`,
    );
    expect(bash(p, "tar -tzf a.tgz").rule).toBe("tar-list");
    expect(bash(p, "tar -xzf a.tgz").decision).toBe("ask");
    expect(bash(p, "tar -tf a.tar --to-command=sh").decision).toBe("ask");
    expect(bash(p, "git branch -a -v").rule).toBe("branch-list");
    expect(bash(p, "git branch -D main").decision).toBe("ask");
  });

  it("paths resolve against the working directory, including after cd", async () => {
    const p = await policy(`  - { id: no-etc, decision: deny, paths: ["/etc/**"] }\n`);
    expect(bash(p, "cat /etc/hosts").rule).toBe("no-etc");
    expect(bash(p, "cat ../../etc/hosts", { cwd: "/workspace/project" }).rule).toBe("no-etc");
    expect(bash(p, "cd /etc && cat hosts").rule).toBe("no-etc");
    expect(bash(p, "(cd /etc); cat hosts").parts[1]).toEqual({ command: "cat hosts", decision: "ask", rule: null });
    expect(bash(p, "cat --file=/etc/hosts").rule).toBe("no-etc");
  });

  it("${workspace} in a path glob is the request's workspace; ! excludes", async () => {
    const p = await policy(`  - { id: outside, decision: deny, argv: [touch], paths: ["!\${workspace}/**"] }\n`);
    expect(bash(p, "touch notes.txt")).toMatchObject({ decision: "ask", rule: null });
    expect(bash(p, "touch /tmp/notes.txt").rule).toBe("outside");
    expect(bash(p, "touch /tmp/notes.txt", { workspace: "/tmp", cwd: "/tmp" })).toMatchObject({ decision: "ask", rule: null });
    expect(bash(p, "touch ../x").rule).toBe("outside");
  });

  it("a relative rule glob matches the path as written, but exclusions apply to where it is", async () => {
    const p = await policy(`  - { id: local-secrets, decision: deny, paths: ["secrets/*", "!\${workspace}/secrets/public"] }\n`);
    expect(bash(p, "cat secrets/key")).toMatchObject({ decision: "deny", rule: "local-secrets" });
    expect(bash(p, "cat secrets/public")).toMatchObject({ decision: "ask", rule: null });
  });

  it("fedBy matches earlier pipeline stages and substitutions feeding the command", async () => {
    const p = await policy(`  - { id: no-fetch-exec, decision: deny, command: ["sh", "sh *"], fedBy: ["curl *"] }\n`);
    expect(bash(p, "curl x | grep y | sh").rule).toBe("no-fetch-exec");
    expect(bash(p, "sh -c \"$(curl x)\"").rule).toBe("no-fetch-exec");
    expect(bash(p, "sh <(curl x)").rule).toBe("no-fetch-exec");
    expect(bash(p, "curl x > f; sh f").decision).toBe("ask");
  });

  it("rooms, requesters and projects narrow a rule", async () => {
    const p = await policy(`  - { id: ops, decision: allow, command: "make *", rooms: ["!ops:example.org"], requesters: ["@*:example.org"], projects: [api] }\n`);
    const base = { room: "!ops:example.org", requester: "@alice:example.org", project: "api" };
    expect(bash(p, "make deploy", base).rule).toBe("ops");
    expect(bash(p, "make deploy", { ...base, room: "!dev:example.org" }).decision).toBe("ask");
    expect(bash(p, "make deploy", { ...base, requester: "@mallory:evil.org" }).decision).toBe("ask");
    expect(bash(p, "make deploy", { ...base, project: "web" }).decision).toBe("ask");
    expect(bash(p, "make deploy", { room: base.room, requester: base.requester }).decision).toBe("ask");
  });

  it("env lists the prefix variables an allow rule accepts", async () => {
    const p = await policy(`  - { id: ls, decision: allow, command: ["ls", "ls *"], env: ["LC_*", TZ] }\n`);
    expect(bash(p, "LC_ALL=C TZ=UTC ls").decision).toBe("allow");
    expect(bash(p, "LC_ALL=C FOO=1 ls").rule).toBe("builtin:env-prefix");
    expect(bash(p, "TZ=$(id) ls").decision).toBe("ask");
  });

  it("redirect rules decide file writes; writes outside the project need one that names them", async () => {
    const p = await policy(
      `  - { id: echo, decision: allow, command: "echo *" }\n` +
        `  - { id: write-project, decision: allow, redirect: "\${workspace}/**" }\n` +
        `  - { id: write-tmp, decision: allow, redirect: "/tmp/**" }\n`,
    );
    expect(bash(p, "echo hi > out.txt").decision).toBe("allow");
    expect(bash(p, "echo hi >> /tmp/log").decision).toBe("allow");
    expect(bash(p, "echo hi > /var/log/x").decision).toBe("ask");
    const catchAll = await policy(`  - { id: anything, decision: allow, tool: bash }\n`);
    expect(bash(catchAll, "echo hi > out.txt").decision).toBe("allow");
    expect(bash(catchAll, "echo hi > /etc/motd").rule).toBe("builtin:redirect-outside");
    expect(bash(catchAll, "echo hi > $F").rule).toBe("builtin:redirect-dynamic");
    expect(bash(catchAll, "echo hi 2>/dev/null >&2").decision).toBe("allow");
  });

  it("xargs and find -exec are allowed only by a rule that names them", async () => {
    const generic = await policy(`  - { id: anything, decision: allow, tool: bash }\n`);
    expect(bash(generic, "ls | xargs grep x").rule).toBe("builtin:wrapper");
    expect(bash(generic, "find . -exec grep x {} +").rule).toBe("builtin:wrapper");
    const explicit = await policy(
      `  - { id: grep, decision: allow, command: ["grep *", "ls"] }\n` +
        `  - { id: xargs-grep, decision: allow, command: "xargs grep *" }\n` +
        `  - { id: find-exec-grep, decision: allow, argv: [find], hasArg: ["-exec"] }\n`,
    );
    expect(bash(explicit, "ls | xargs grep x").decision).toBe("allow");
    expect(bash(explicit, "find . -exec grep x {} +").decision).toBe("allow");
    expect(bash(explicit, "find . -exec rm {} +").decision).toBe("ask");
  });

  it("other tools: paths, wildcard tool ids, and rules that apply to every tool", async () => {
    const p = await policy(
      `  - { id: edit-src, decision: allow, tool: [edit, write], paths: ["\${workspace}/src/**"] }\n` +
        `  - { id: github-read, decision: allow, tool: "github_get_*" }\n` +
        `  - { id: secrets, decision: deny, paths: ["**/.env"] }\n`,
    );
    const call = (tool: string, paths?: string[]) => evaluate({ tool, cwd: WS, workspace: WS, ...(paths ? { paths } : {}) }, { policy: p });
    expect(call("edit", [`${WS}/src/a.ts`]).rule).toBe("edit-src");
    expect(call("edit", ["src/a.ts"]).rule).toBe("edit-src");
    expect(call("edit", [`${WS}/src/../.env`]).rule).toBe("secrets");
    expect(call("write", [`${WS}/src/a.ts`, `${WS}/README.md`]).decision).toBe("ask");
    expect(call("write", [`${WS}/src/a.ts`, `${WS}/README.md`]).parts.map((x) => x.decision)).toEqual(["allow", "ask"]);
    expect(call("read", [`${WS}/.env`]).rule).toBe("secrets");
    expect(call("github_get_issue").rule).toBe("github-read");
    expect(call("github_create_issue").decision).toBe("ask");
    expect(call("edit", [`${WS}/src/\u202ea.ts`]).decision).toBe("deny");
    expect(evaluate({ tool: "webfetch", command: "https://example.org/\u200b" }, { policy: p }).rule).toBe("builtin:control-character");
  });
});

describe("floors a rule cannot lift", () => {
  it.each([
    ["python3 -c 'print(1)'", "builtin:interpreter"],
    ["python3", "builtin:interpreter"],
    ["python3 - < x.py", "builtin:interpreter"],
    ["cat x.py | python3", "builtin:interpreter"],
    ["node -e 1", "builtin:interpreter"],
    ["eval ls", "builtin:eval"],
    ["source x.sh", "builtin:source"],
    ["ls &", "builtin:background"],
    ["X=1", "builtin:assignment"],
    ["g() { ls; }", "builtin:function"],
    ["$X", "builtin:dynamic-name"],
    ["ls $X", "builtin:expansion"],
    ["ls $(pwd)", "builtin:substitution"],
    ["alias x=y", "builtin:alias"],
    ["exec ls", "builtin:exec"],
    ["ls ((", "builtin:parse-error"],
  ])("%s asks even when everything is allowed", async (command, rule) => {
    const p = await policy(`  - { id: anything, decision: allow, tool: bash }\n`);
    const d = bash(p, command);
    expect([d.decision, d.rule]).toEqual(["ask", rule]);
  });

  it("still lets an interpreter run a script file when a rule allows it", async () => {
    const p = await policy(`  - { id: py, decision: allow, command: "python3 *" }\n`);
    expect(bash(p, "python3 tools/gen.py --out x").decision).toBe("allow");
    expect(bash(p, "python3 -m pytest").decision).toBe("allow");
  });
});

describe("combining parts", () => {
  it("deny beats ask beats allow, and the decision names the strongest part", async () => {
    const p = await policy(`  - { id: ls, decision: allow, command: "ls" }\n  - { id: rm, decision: deny, command: "rm *" }\n`);
    const d = bash(p, "ls; make; rm x");
    expect(d.decision).toBe("deny");
    expect(d.rule).toBe("rm");
    expect(d.parts).toEqual([
      { command: "ls", decision: "allow", rule: "ls" },
      { command: "make", decision: "ask", rule: null },
      { command: "rm x", decision: "deny", rule: "rm" },
    ]);
  });

  it("asks merge: the heaviest rule names the approvers, quorum and strictness add up, expiry shrinks", async () => {
    const p = await policy(
      `  - { id: deploy, decision: ask, command: "make deploy", quorum: 2, approvers: { users: ["@a:x.org", "@b:x.org"] }, expires: 1h, risk: high }\n` +
        `  - { id: migrate, decision: ask, command: "make migrate", strict: true, selfApproval: false, expires: 5m, risk: medium }\n`,
    );
    const d = bash(p, "make migrate && make deploy");
    expect(d.rule).toBe("deploy");
    expect(d.risk).toBe("high");
    expect(d.approval).toEqual({ quorum: 2, users: ["@a:x.org", "@b:x.org"], selfApproval: false, strict: true, expiresInMs: 5 * 60_000, risk: "high" });
  });

  it("a dangerous ask wins over an ordinary one", async () => {
    const p = await policy(`  - { id: plain, decision: ask, command: "git *" }\n  - { id: force, decision: ask, dangerous: true, command: "git push *", hasArg: ["--force"] }\n`);
    const d = bash(p, "git push --force");
    expect(d.rule).toBe("force");
    expect(d.approval).toMatchObject({ quorum: 2, selfApproval: false, risk: "high" });
  });

  it("uses the defaults when nothing matches, including a default of deny", async () => {
    const p = await policy(`  - { id: ls, decision: allow, command: "ls" }\n`, "defaults: { decision: deny, risk: low }\n");
    expect(bash(p, "make").decision).toBe("deny");
    const q = await policy(`  - { id: ls, decision: allow, command: "ls" }\n`, "defaults: { quorum: 2, approvers: { minPowerLevel: 100 }, expires: 2h }\n");
    expect(bash(q, "make").approval).toEqual({ quorum: 2, minPowerLevel: 100, selfApproval: true, strict: false, expiresInMs: 2 * 3_600_000, risk: "medium" });
  });

  it("is pure: the same request gives the same decision and the request is untouched", async () => {
    const p = await policy(`  - { id: ls, decision: allow, command: "ls *" }\n`);
    const request: PolicyRequest = { tool: "bash", command: "ls -la; make", cwd: WS, workspace: WS };
    const copy = structuredClone(request);
    expect(evaluate(request, { policy: p })).toEqual(evaluate(request, { policy: p }));
    expect(request).toEqual(copy);
  });
});

describe("pathological input", () => {
  it.each([
    ["deeply nested substitutions", `echo ${"$(".repeat(1500)}id${")".repeat(1500)}`],
    ["deeply nested parameter expansions", `echo "${"${a:-".repeat(6000)}x${"}".repeat(6000)}"`],
    ["a brace expansion of a million words", `echo ${"{a,b}".repeat(20)}`],
    ["text over a megabyte", `ls ${"a".repeat(1_100_000)}`],
  ])("%s asks instead of failing", async (_name, command) => {
    const p = await policy(`  - { id: anything, decision: allow, tool: bash }\n`);
    expect(bash(p, command).decision).toBe("ask");
  });
});

describe("reasons", () => {
  it("say what to do next", async () => {
    const p = await policy(`  - { id: rm, decision: deny, command: "rm *", description: "deletes files", message: "Use the trash command instead." }\n`);
    expect(bash(p, "rm x").reason).toBe('Denied: `rm x` matches rule "rm" (deletes files). Use the trash command instead.');
    expect(bash(p, "make").reason).toBe(
      "Needs approval: `make` matches no rule, so it needs approval. Needs 1 approval (anyone with power level ≥ 50) within 15m. Wait for the decision; if it is rejected, do not retry the same command.",
    );
  });

  it("name a hidden character and where it is", async () => {
    const p = await policy(`  - { id: ls, decision: allow, command: "ls *" }\n`);
    const d = bash(p, "ls\nls é\u202e");
    expect(d.decision).toBe("deny");
    expect(d.rule).toBe("builtin:control-character");
    expect(d.reason).toContain("U+202E (RIGHT-TO-LEFT OVERRIDE) at line 2, column 5 (byte 8)");
    expect(d.parts[0]!.command).toBe("ls\nls é<U+202E>");
  });
});

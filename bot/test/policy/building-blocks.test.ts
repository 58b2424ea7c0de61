// The pieces under evaluate(): globs and their intersection, bash word values, hidden
// characters, durations and canonical JSON. One assertion per behaviour that a rule relies on.
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/canonical-json.ts";
import { findForbiddenChar, makeVisible } from "../../src/policy/control-chars.ts";
import { formatDuration, parseDuration } from "../../src/policy/duration.ts";
import { compileGlob, globCovers, globsIntersect, parseGlob, pathAlternatives, shellGlobAlternatives } from "../../src/policy/glob.ts";
import { analyseWithParser } from "../../src/policy/analyse.ts";
import { ensureBashParser } from "../../src/policy/bash-parser.ts";
import { normalizePath, resolvePath } from "../../src/policy/paths.ts";
import { decodeAnsiC } from "../../src/policy/words.ts";

describe("globs", () => {
  it.each([
    ["git status*", "command", "git status --short", true],
    ["git status*", "command", "git stat", false],
    ["ls *", "command", "ls -la /tmp", true],
    ["{ls,cat} *", "command", "cat x", true],
    ["-[rR]*", "command", "-Rf", true],
    ["-[!-]*[rR]*", "command", "-fr", true],
    ["-[!-]*[rR]*", "command", "--force", false],
    ["\\[ *", "command", "[ -f x ]", true],
    ["*.ts", "path", "src/a.ts", false],
    ["**/*.ts", "path", "src/a.ts", true],
    ["**/.env", "path", ".env", true],
    ["**/.env", "path", "/w/p/.env", true],
    ["~/.ssh/**", "path", "~/.ssh", true],
    ["~/.ssh/**", "path", "~/.ssh/keys/id", true],
    ["~/.ssh/**", "path", "~/.sshx", false],
    ["/dev/sd?", "path", "/dev/sda", true],
    ["/dev/sd?", "path", "/dev/sd/a", false],
  ] as const)("%s (%s) on %s → %s", (pattern, flavor, text, expected) => {
    expect(compileGlob(pattern, flavor).test(text)).toBe(expected);
  });

  it("binds ${workspace} to a literal path, escaping regex characters", () => {
    const g = compileGlob("${workspace}/**", "path");
    expect(g.test("/w/a+b/src", { workspace: "/w/a+b", cwd: "/" })).toBe(true);
    expect(g.test("/w/aab/src", { workspace: "/w/a+b", cwd: "/" })).toBe(false);
  });

  it("knows the literal first words of a command glob, for indexing", () => {
    expect(compileGlob("git status *", "command").heads).toEqual(["git"]);
    expect(compileGlob("{sh,bash} *", "command").heads).toEqual(["sh", "bash"]);
    expect(compileGlob("mkfs*", "command").heads).toBeNull();
  });

  it("intersects a shell glob with a rule glob when some file could match both", () => {
    const rule = (p: string) => parseGlob(p, "path").flatMap(pathAlternatives);
    const shell = (v: string) => shellGlobAlternatives(v, "u".repeat(v.length));
    const meets = (r: string, s: string) => rule(r).some((a) => shell(s).some((b) => globsIntersect(a, b, true, true)));
    expect(meets("**/.ssh/**", "~/.ss*/id_rsa")).toBe(true);
    expect(meets("**/.env", "*.ts")).toBe(false);
    expect(meets("**/.env", ".e*")).toBe(true);
    expect(meets("**/.env", "*")).toBe(false);
    expect(meets("/etc/shadow", "/etc/s*")).toBe(true);
    expect(meets("/etc/shadow", "/usr/*")).toBe(false);
  });

  it("says a rule glob covers a shell glob only when every expansion matches", () => {
    const [rule] = parseGlob("/*", "path");
    expect(shellGlobAlternatives("/*", "uu").every((b) => globCovers(rule!, b, true))).toBe(true);
    expect(shellGlobAlternatives("/*/x", "uuuu").every((b) => globCovers(rule!, b, true))).toBe(false);
  });
});

describe("word values", () => {
  it.each([
    ["'r''m' -rf /", ["rm", "-rf", "/"]],
    ["r\\m -rf /", ["rm", "-rf", "/"]],
    ['"$\'\\x72m\'" x', ["$'\\x72m'", "x"]],
    ["$'\\x72m' x", ["rm", "x"]],
    ['echo "a\\$b" \'c d\'', ["echo", "a$b", "c d"]],
    ["echo a{b,c}d", ["echo", "abd", "acd"]],
    ["echo \\{p,q\\} '{x,y}'", ["echo", "{p,q}", "{x,y}"]],
    ["echo {1..3}", ["echo", "1", "2", "3"]],
    ["cat $HOME/.ssh/k", ["cat", "~/.ssh/k"]],
    ["ls \\\n -la", ["ls", "-la"]],
  ])("%s", async (text, argv) => {
    await ensureBashParser();
    const unit = analyseWithParser(text, { cwd: "/w" }).units[0]!;
    expect(unit.kind === "command" && unit.argv.map((a) => a.value)).toEqual(argv);
  });

  it("decodes ANSI-C escapes as bash does", () => {
    expect(decodeAnsiC("\\x72\\u043c\\101\\n\\t\\\\\\'\\cA")).toBe("r\u043cA\n\t\\'\u0001");
  });
});

describe("hidden characters", () => {
  it.each([
    ["a\rb", "U+000D", 1, 2, 1],
    ["ok\nls \u202e", "U+202E", 2, 4, 6],
    ["é\u200b", "U+200B", 1, 2, 2],
    ["\u0085", "U+0085", 1, 1, 0],
    ["x\u007f", "U+007F", 1, 2, 1],
    ["\ufeffls", "U+FEFF", 1, 1, 0],
  ])("%j → %s at line %i, column %i, byte %i", (text, label, line, column, byteOffset) => {
    expect(findForbiddenChar(text)).toMatchObject({ label, line, column, byteOffset });
  });

  it("allows tab and newline, and shows the rest", () => {
    expect(findForbiddenChar("ls\t-la\nls")).toBeNull();
    expect(makeVisible("a\u202eb\u0000")).toBe("a<U+202E>b<U+0000>");
  });
});

describe("durations, paths and canonical JSON", () => {
  it("parses and formats durations", () => {
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("15")).toBeNull();
    expect(formatDuration(5_400_000)).toBe("1h30m");
  });

  it("normalises paths lexically and keeps ~", () => {
    expect(normalizePath("/usr/../etc//x/.")).toBe("/etc/x");
    expect(normalizePath("/..")).toBe("/");
    expect(resolvePath("../x", "/w/p")).toBe("/w/x");
    expect(resolvePath("~/a/../b", "/w")).toBe("~/b");
  });

  it("sorts keys and drops undefined in canonical JSON", () => {
    expect(canonicalJson({ b: 1, a: [{ d: undefined, c: "x" }] })).toBe('{"a":[{"c":"x"}],"b":1}');
  });
});

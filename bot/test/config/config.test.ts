import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatConfigProblems, loadConfig, type ConfigResult } from "../../src/config.ts";

const cwd = mkdtempSync(join(tmpdir(), "pocketcoder-config-"));
const base = {
  POCKETCODER_HOMESERVER_URL: "https://matrix.example.org/",
  POCKETCODER_USER_ID: "@bot:example.org",
  POCKETCODER_DATA_DIR: join(cwd, "data"),
};

function problems(r: ConfigResult): string[] {
  if (r.ok) throw new Error("expected problems, got a config");
  return r.problems;
}

function config(r: ConfigResult) {
  if (!r.ok) throw new Error(formatConfigProblems(r.problems));
  return r.config;
}

describe("loadConfig from the environment", () => {
  it("fills defaults and trims the URL's trailing slash", () => {
    const c = config(loadConfig({ env: base, cwd }));
    expect(c).toEqual({
      homeserverUrl: "https://matrix.example.org",
      userId: "@bot:example.org",
      dataDir: join(cwd, "data"),
      allowedUsers: [],
      allowedServers: [],
      allowUnencrypted: false,
    });
  });

  it("splits comma-separated allow lists and parses booleans", () => {
    const c = config(
      loadConfig({
        env: {
          ...base,
          POCKETCODER_ALLOWED_USERS: " @alice:example.org, @bob:other.net ,",
          POCKETCODER_ALLOWED_SERVERS: "example.org,[::1]:8448",
          POCKETCODER_ALLOW_UNENCRYPTED: "yes",
          POCKETCODER_OPERATOR: "@op:example.org",
        },
        cwd,
      }),
    );
    expect(c.allowedUsers).toEqual(["@alice:example.org", "@bob:other.net"]);
    expect(c.allowedServers).toEqual(["example.org", "[::1]:8448"]);
    expect(c.allowUnencrypted).toBe(true);
    expect(c.operator).toBe("@op:example.org");
  });

  it("names the missing homeserver URL", () => {
    const { POCKETCODER_HOMESERVER_URL: _, ...env } = base;
    expect(problems(loadConfig({ env, cwd }))).toEqual(["POCKETCODER_HOMESERVER_URL: is required"]);
  });

  it("rejects a non-http URL", () => {
    expect(problems(loadConfig({ env: { ...base, POCKETCODER_HOMESERVER_URL: "ftp://x.org" }, cwd }))[0]).toMatch(
      /^POCKETCODER_HOMESERVER_URL: must be an http\(s\) URL/,
    );
  });

  it("rejects a malformed user id, naming the value", () => {
    expect(problems(loadConfig({ env: { ...base, POCKETCODER_USER_ID: "bot" }, cwd }))).toEqual([
      'POCKETCODER_USER_ID: must be a Matrix user id like @bot:example.org, got "bot"',
    ]);
  });

  it("points at the bad entry of an allow list", () => {
    const r = loadConfig({ env: { ...base, POCKETCODER_ALLOWED_USERS: "@a:x.org,alice" }, cwd });
    expect(problems(r)).toEqual(['POCKETCODER_ALLOWED_USERS (entry 2): must be a Matrix user id like @bot:example.org, got "alice"']);
  });

  it("rejects a boolean it cannot read", () => {
    expect(problems(loadConfig({ env: { ...base, POCKETCODER_ALLOW_UNENCRYPTED: "maybe" }, cwd }))).toEqual([
      'POCKETCODER_ALLOW_UNENCRYPTED: must be true or false, got "maybe"',
    ]);
  });

  it("reports every problem at once", () => {
    expect(problems(loadConfig({ env: { POCKETCODER_USER_ID: "x", POCKETCODER_DATA_DIR: join(cwd, "d") }, cwd }))).toHaveLength(2);
  });

  it("reads the password from a file, or refuses both sources at once", () => {
    const file = join(cwd, "pw");
    writeFileSync(file, "s3cret\n");
    expect(config(loadConfig({ env: { ...base, POCKETCODER_PASSWORD_FILE: file }, cwd })).password).toBe("s3cret");
    expect(problems(loadConfig({ env: { ...base, POCKETCODER_PASSWORD_FILE: join(cwd, "nope") }, cwd }))[0]).toMatch(
      /^POCKETCODER_PASSWORD_FILE: cannot read .*nope: ENOENT/,
    );
    expect(problems(loadConfig({ env: { ...base, POCKETCODER_PASSWORD: "a", POCKETCODER_PASSWORD_FILE: file }, cwd }))[0]).toMatch(
      /both set/,
    );
  });

  it("accepts a data folder that does not exist yet but can be created, without creating it", () => {
    const dir = join(cwd, "new", "deeper");
    expect(config(loadConfig({ env: { ...base, POCKETCODER_DATA_DIR: dir }, cwd })).dataDir).toBe(dir);
    expect(() => mkdirSync(join(cwd, "new"))).not.toThrow();
  });

  it("refuses a data folder under a file", () => {
    const file = join(cwd, "plain-file");
    writeFileSync(file, "");
    expect(problems(loadConfig({ env: { ...base, POCKETCODER_DATA_DIR: join(file, "data") }, cwd }))).toEqual([
      `POCKETCODER_DATA_DIR: ${join(file, "data")} cannot be created: ${file} is not a directory`,
    ]);
  });
});

describe("loadConfig with pocketcoder.yaml", () => {
  const dir = mkdtempSync(join(tmpdir(), "pocketcoder-yaml-"));
  const yamlPath = join(dir, "pocketcoder.yaml");

  it("reads ./pocketcoder.yaml, resolving paths against its folder; the environment wins", () => {
    writeFileSync(
      yamlPath,
      ["homeserverUrl: http://127.0.0.1:8008", "userId: '@bot:localhost'", "dataDir: state", "allowedUsers: ['@alice:localhost']"].join("\n"),
    );
    const r = loadConfig({ env: { POCKETCODER_USER_ID: "@other:localhost" }, cwd: dir });
    const c = config(r);
    expect(r.ok && r.file).toBe(yamlPath);
    expect(c.homeserverUrl).toBe("http://127.0.0.1:8008");
    expect(c.userId).toBe("@other:localhost");
    expect(c.dataDir).toBe(join(dir, "state"));
    expect(c.allowedUsers).toEqual(["@alice:localhost"]);
  });

  it("names the yaml key and file in errors", () => {
    writeFileSync(yamlPath, "homeserverUrl: http://127.0.0.1:8008\nuserId: nobody\n");
    expect(problems(loadConfig({ env: {}, cwd: dir }))).toEqual([
      `userId in ${yamlPath}: must be a Matrix user id like @bot:example.org, got "nobody"`,
    ]);
  });

  it("names unknown keys and wrong types", () => {
    writeFileSync(yamlPath, "homeserverURL: x\nallowUnencrypted: 'no'\n");
    const p = problems(loadConfig({ env: base, cwd: dir }));
    expect(p).toContain(`${yamlPath}: unknown key homeserverURL`);
    expect(p.some((x) => x.startsWith(`${yamlPath}: allowUnencrypted:`))).toBe(true);
  });

  it("reports YAML syntax errors with a line", () => {
    writeFileSync(yamlPath, "userId: [unclosed\n");
    expect(problems(loadConfig({ env: base, cwd: dir }))[0]).toMatch(/pocketcoder\.yaml \(line \d+\): not valid YAML/);
  });

  it("says when POCKETCODER_CONFIG names a missing file", () => {
    expect(problems(loadConfig({ env: { ...base, POCKETCODER_CONFIG: "missing.yaml" }, cwd }))).toEqual([
      `POCKETCODER_CONFIG: file ${join(cwd, "missing.yaml")} does not exist`,
    ]);
  });

  it("names both places when a field is missing and a yaml file is in use", () => {
    writeFileSync(yamlPath, "userId: '@bot:localhost'\n");
    expect(problems(loadConfig({ env: {}, cwd: dir }))).toEqual([`POCKETCODER_HOMESERVER_URL (or homeserverUrl in ${yamlPath}): is required`]);
  });
});

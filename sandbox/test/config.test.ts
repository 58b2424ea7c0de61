// The runner's environment configuration: defaults, and errors that name the variable.
import { mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";

const dir = realpathSync(mkdtempSync(join(tmpdir(), "pc-config-")));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const base = { POCKETCODER_WORKSPACE: dir, POCKETCODER_RUNNER_STATE: join(dir, "state"), POCKETCODER_RUNNER_TOKEN: "0123456789abcdef" };

describe("loadConfig", () => {
  it("applies the defaults", () => {
    const c = loadConfig(base);
    expect(c.listen).toEqual({ kind: "unix", path: join(dir, "state", "runner.sock"), mode: 0o660 });
    expect(c.settings).toMatchObject({ workspace: dir, sandbox: "auto", defaultTimeoutMs: 120_000, noOutputMs: 30_000, replyMaxBytes: 65_536, queueMax: 50 });
  });

  it("reads listen addresses and the token file", () => {
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "abcdefabcdefabcdef\n");
    const env = { ...base, POCKETCODER_RUNNER_TOKEN: undefined, POCKETCODER_RUNNER_TOKEN_FILE: tokenFile, POCKETCODER_RUNNER_LISTEN: "http://127.0.0.1:7070" };
    const c = loadConfig(env);
    expect(c.token).toBe("abcdefabcdefabcdef");
    expect(c.listen).toEqual({ kind: "tcp", host: "127.0.0.1", port: 7070 });
    expect(loadConfig({ ...base, POCKETCODER_RUNNER_LISTEN: "0.0.0.0:7070", POCKETCODER_RUNNER_ALLOW_REMOTE: "1" }).listen).toMatchObject({ host: "0.0.0.0" });
  });

  it("names the variable in every error", () => {
    expect(() => loadConfig({ POCKETCODER_RUNNER_TOKEN: "0123456789abcdef" })).toThrow(/POCKETCODER_WORKSPACE: is required/);
    expect(() => loadConfig({ ...base, POCKETCODER_WORKSPACE: "rel/ws" })).toThrow(/POCKETCODER_WORKSPACE: must be an absolute path/);
    expect(() => loadConfig({ ...base, POCKETCODER_WORKSPACE: join(dir, "missing") })).toThrow(/POCKETCODER_WORKSPACE: .* is not an existing directory/);
    const link = join(dir, "link");
    symlinkSync(dir, link);
    expect(() => loadConfig({ ...base, POCKETCODER_WORKSPACE: link })).toThrow(/POCKETCODER_WORKSPACE: give the real path/);
    expect(() => loadConfig({ ...base, POCKETCODER_RUNNER_TOKEN: "short" })).toThrow(/POCKETCODER_RUNNER_TOKEN: must be at least 16 characters/);
    expect(() => loadConfig({ ...base, POCKETCODER_RUNNER_TOKEN: undefined })).toThrow(/POCKETCODER_RUNNER_TOKEN or POCKETCODER_RUNNER_TOKEN_FILE is required/);
    expect(() => loadConfig({ ...base, POCKETCODER_RUNNER_LISTEN: "10.0.0.5:7070" })).toThrow(/not a loopback address/);
    expect(() => loadConfig({ ...base, POCKETCODER_RUNNER_LISTEN: "nonsense" })).toThrow(/POCKETCODER_RUNNER_LISTEN/);
    expect(() => loadConfig({ ...base, POCKETCODER_RUNNER_TIMEOUT_MS: "700000" })).toThrow(/POCKETCODER_RUNNER_TIMEOUT_MS/);
    expect(() => loadConfig({ ...base, POCKETCODER_SANDBOX: "docker" })).toThrow(/POCKETCODER_SANDBOX/);
  });
});

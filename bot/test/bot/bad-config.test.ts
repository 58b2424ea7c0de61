// Issue 2, test 6: a bad configuration stops the bot process with a non-zero exit and a readable
// message (no stack trace) that names the field and the problem.
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { botEnv, runBotToExit } from "@pocketcoder/testkit/bot-process";

const nobody = 65534;
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "pocketcoder-badcfg-"));
  await chmod(root, 0o755);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function expectReadable(stderr: string) {
  expect(stderr).toContain("the configuration is not usable");
  expect(stderr).not.toMatch(/^\s+at /m);
}

describe("bad configuration", () => {
  it("without a homeserver URL: names POCKETCODER_HOMESERVER_URL", async () => {
    const env = botEnv({ homeserverUrl: "", userId: "@bot:localhost", dataDir: join(root, "a") });
    const run = await runBotToExit(env);
    expect(run.code).toBe(1);
    expectReadable(run.stderr);
    expect(run.stderr).toContain("POCKETCODER_HOMESERVER_URL: is required");
  });

  it("with a malformed user id: names POCKETCODER_USER_ID and shows the value", async () => {
    const env = botEnv({ homeserverUrl: "http://127.0.0.1:9", userId: "bot@localhost", dataDir: join(root, "b") });
    const run = await runBotToExit(env);
    expect(run.code).toBe(1);
    expectReadable(run.stderr);
    expect(run.stderr).toContain('POCKETCODER_USER_ID: must be a Matrix user id like @bot:example.org, got "bot@localhost"');
  });

  it("with a data folder it cannot write: names POCKETCODER_DATA_DIR", async () => {
    const dataDir = join(root, "readonly");
    await mkdir(dataDir);
    const asRoot = process.getuid?.() === 0;
    // Root may write anywhere, so as root the bot runs as `nobody` in a folder owned by root.
    await chmod(dataDir, asRoot ? 0o755 : 0o555);
    const env = botEnv({ homeserverUrl: "http://127.0.0.1:9", userId: "@bot:localhost", dataDir });
    const run = await runBotToExit(env, asRoot ? { uid: nobody, gid: nobody } : {});
    expect(run.code).toBe(1);
    expectReadable(run.stderr);
    expect(run.stderr).toContain(`POCKETCODER_DATA_DIR: ${dataDir} is not writable`);
  });
});

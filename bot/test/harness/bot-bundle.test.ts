// The bundle the bot runs from (scripts/lib/bot-bundle.ts): built from bot/src, with each source
// file's own location for import.meta, rebuilt when a source changes, and runnable by plain node.
import { spawnSync } from "node:child_process";
import { readFileSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { botBundle, botBundleIsFresh, botNodeArgs, buildBotBundle } from "../../../scripts/lib/bot-bundle.ts";
import { repoRoot } from "../../../scripts/lib/homeserver.ts";

describe("the bot bundle", () => {
  beforeAll(async () => {
    await buildBotBundle();
  });

  it("keeps each file's own import.meta.url, so the verify worker and the sandbox shim are found where they are", () => {
    const code = readFileSync(botBundle.main, "utf8");
    expect(code).toContain(JSON.stringify(pathToFileURL(join(repoRoot, "bot/src/ledger/verify-parallel.ts")).href));
    expect(code).toContain(JSON.stringify(pathToFileURL(join(repoRoot, "bot/src/conversation/loop.ts")).href));
    expect(code).not.toContain("import.meta.url");
  });

  it("imports packages from node_modules instead of bundling them", () => {
    const code = readFileSync(botBundle.main, "utf8");
    expect(code).toMatch(/from "matrix-js-sdk"/);
    expect(code).toMatch(/from "better-sqlite3"/);
  });

  it("is stale once a file it was built from changes, and fresh again after a rebuild", async () => {
    expect(botBundleIsFresh()).toBe(true);
    const source = join(repoRoot, "bot/src/chat/router.ts");
    const { atime, mtime } = statSync(source);
    try {
      utimesSync(source, atime, new Date(mtime.getTime() + 1000));
      expect(botBundleIsFresh()).toBe(false);
    } finally {
      utimesSync(source, atime, mtime);
    }
    await buildBotBundle();
    expect(botBundleIsFresh()).toBe(true);
  });

  it("runs under plain node, without tsx, and reports a bad configuration by name", () => {
    const r = spawnSync(process.execPath, botNodeArgs(), { cwd: repoRoot, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/POCKETCODER_HOMESERVER_URL: is required/);
  });
});

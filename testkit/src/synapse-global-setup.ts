// vitest globalSetup of the `synapse` project: one throwaway Synapse per test run, on a free loopback
// port, rate limits lifted. A test gets it with `inject("homeserver")` (or `testHomeserver()` from
// @pocketcoder/testkit/matrix-user). Its log is copied to `<cache>/synapse-test.log` after every run,
// and its tail is printed, with the folder kept, when anything failed.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { defaultVenvDir, freePort, repoRoot, startHomeserver, tailOfFile } from "../../scripts/lib/homeserver.ts";

export interface TestHomeserver {
  baseUrl: string;
  serverName: string;
  sharedSecret: string;
  dir: string;
  logPath: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    homeserver: TestHomeserver;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!existsSync(join(defaultVenvDir(), "bin", "python"))) {
    // `npx vitest` on a fresh clone: install Synapse the same way `npm test` does.
    const install = spawnSync("bash", [join(repoRoot, "scripts/install-homeserver.sh")], { stdio: "inherit" });
    if (install.status !== 0) throw new Error("installing Synapse failed (scripts/install-homeserver.sh)");
  }
  const dir = await mkdtemp(join(tmpdir(), "pocketcoder-synapse-"));
  const hs = await startHomeserver({ dir, port: await freePort(), testMode: true });
  project.provide("homeserver", {
    baseUrl: hs.baseUrl, serverName: hs.serverName, sharedSecret: hs.sharedSecret, dir: hs.dir, logPath: hs.logPath,
  });

  return async () => {
    await hs.stop();
    const cache = process.env.POCKETCODER_CACHE ?? join(repoRoot, ".cache");
    await mkdir(cache, { recursive: true });
    const keptLog = join(cache, "synapse-test.log");
    if (existsSync(hs.logPath)) await copyFile(hs.logPath, keptLog);
    const state = project.vitest.state;
    const failed =
      state.getCountOfFailedTests() > 0 || state.getFailedFilepaths().length > 0 || state.getUnhandledErrors().length > 0;
    if (failed) {
      console.error(
        `\n--- Synapse log tail (full log: ${keptLog}; homeserver folder kept: ${hs.dir}) ---\n` +
          `${await tailOfFile(hs.logPath, 60)}\n--- end of Synapse log ---`,
      );
      return;
    }
    await rm(dir, { recursive: true, force: true });
  };
}

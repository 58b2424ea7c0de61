// Entry point: `node --import tsx sandbox/src/main.ts`, configured by POCKETCODER_* variables (config.ts).
import { loadConfig } from "./config.ts";
import { closeServer, createApi, listen } from "./http-server.ts";
import { createLogger } from "./log.ts";
import { Runner } from "./runner.ts";

const log = createLogger("runner");

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    process.stderr.write(`pocketcoder runner: configuration error:\n${(e as Error).message}\n`);
    process.exit(2);
  }
  const runner = await Runner.start(config.settings, log);
  const server = createApi(runner, config.token, log.child("http"));
  await listen(server, config.listen);
  log.info("listening", { address: config.listen.kind === "unix" ? config.listen.path : `${config.listen.host}:${config.listen.port}`, sandbox: runner.paneCommand.mode, bootId: runner.bootId });
  const stop = async (signal: string) => {
    log.info("stopping; tmux and running commands stay up", { signal });
    runner.close();
    await closeServer(server);
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}

main().catch((e: unknown) => {
  log.error("runner failed", { error: e });
  process.exit(1);
});

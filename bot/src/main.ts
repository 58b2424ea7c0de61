// The bot process: `node --import tsx --import ./bot/src/polyfill.ts bot/src/main.ts`.
// Loads the configuration, starts, logs `ready` once it acts on live events, and shuts down
// cleanly on SIGINT/SIGTERM: stop taking work, let running handlers finish (up to a deadline),
// save the stores. A signal during start-up, or a second signal, exits at once: the crypto
// store is written through record by record, so that is no worse than a crash.
import { startBot } from "./bot.ts";
import { formatConfigProblems, loadConfig } from "./config.ts";
import { createLogger } from "./log.ts";

const drainDeadlineMs = 10_000;
const signalExitCode: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

async function main(): Promise<number> {
  const log = createLogger("bot");
  const loaded = loadConfig({ env: process.env, cwd: process.cwd() });
  if (!loaded.ok) {
    process.stderr.write(formatConfigProblems(loaded.problems) + "\n");
    return 1;
  }
  const { config } = loaded;
  log.info("starting", { userId: config.userId, homeserver: config.homeserverUrl, dataDir: config.dataDir, configFile: loaded.file });

  let running = false;
  let requestStop!: (signal: NodeJS.Signals) => void;
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => (requestStop = resolve));
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!running || signalled) {
      log.warn(running ? "second signal; exiting now" : "signal during start-up; exiting now", { signal });
      process.exit(signalExitCode[signal] ?? 1);
    }
    signalled = true;
    requestStop(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let bot;
  try {
    bot = await startBot(config, log);
  } catch (e) {
    log.error("start failed", { error: e });
    process.stderr.write(`pocketcoder: the bot could not start: ${(e as Error).message}\n`);
    return 1;
  }
  running = true;
  log.info("ready", {
    userId: bot.userId,
    deviceId: bot.deviceId,
    deviceKey: bot.deviceKey,
    firstStart: bot.firstStart,
    ...(bot.firstStart ? { recoveryKeyFile: bot.recoveryKeyPath } : {}),
  });

  const signal = await stopRequested;
  log.info("stopping", { signal });
  await bot.stop(drainDeadlineMs);
  log.info("stopped");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`pocketcoder: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);

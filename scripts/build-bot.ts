// Builds the bot's bundle (.cache/bot-bundle; see lib/bot-bundle.ts). `npm start` and the test kit
// build it when it is missing or stale; the bot's Dockerfile runs this at image build time.
import { buildBotBundle } from "./lib/bot-bundle.ts";

try {
  const { main } = await buildBotBundle();
  console.error(`[pocketcoder] built ${main}`);
} catch (err) {
  console.error(`[pocketcoder] could not build the bot: ${(err as Error).message}`);
  process.exitCode = 1;
}

#!/usr/bin/env node
// The `pocketcoder` CLI. The sources are TypeScript run through tsx, so there is no build step.
import { register } from "tsx/esm/api";

register();
await import("../src/polyfill.ts");
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));

// The bot runs from one ESM file that esbuild builds from bot/src (and the runner protocol it
// imports), not through tsx. On Node 20 tsx loads every module through a loader thread of its own;
// for the bot that measured ~45 MB of its idle RSS (150 → 105 MB) and ~0.3 s of its start. Only
// our TypeScript is bundled: packages stay in node_modules and load as usual.
//
// A bundle has one location, so each source file's `import.meta.url` and `import.meta.dirname`
// are replaced by that file's own: paths the code finds relative to itself (the verify worker,
// the sandbox shim, package files found with createRequire) stay where they are in the tree.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { build, type Plugin } from "esbuild";
import { repoRoot } from "./homeserver.ts";

const outDir = join(repoRoot, ".cache", "bot-bundle");
const stampPath = join(outDir, "inputs.json");
const entryPoints = { polyfill: join(repoRoot, "bot/src/polyfill.ts"), main: join(repoRoot, "bot/src/main.ts") };

export interface BotBundle {
  /** Imported first (`--import`): what the SDK needs of Node 22 on Node 20. */
  polyfill: string;
  main: string;
}

export const botBundle: BotBundle = { polyfill: join(outDir, "polyfill.js"), main: join(outDir, "main.js") };

/** How to run the bot: node's arguments before any of the bot's own. */
export function botNodeArgs(): string[] {
  return ["--import", pathToFileURL(botBundle.polyfill).href, botBundle.main];
}

const ownImportMeta: Plugin = {
  name: "own-import-meta",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async ({ path }) => {
      const source = await readFile(path, "utf8");
      const contents = source
        .replaceAll("import.meta.url", JSON.stringify(pathToFileURL(path).href))
        .replaceAll("import.meta.dirname", JSON.stringify(dirname(path)));
      return { contents, loader: "ts" };
    });
  },
};

/** Packages the bot and the runner protocol depend on; they are imported, not bundled. */
function packageDependencies(): string[] {
  const names = new Set<string>();
  for (const dir of ["bot", "sandbox"]) {
    const pkg = JSON.parse(readFileSync(join(repoRoot, dir, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
    for (const name of Object.keys(pkg.dependencies ?? {})) if (!name.startsWith("@pocketcoder/")) names.add(name);
  }
  return [...names];
}

/** Builds the bundle. Files are written under temporary names and renamed into place, so test
 * workers building at once never run a half-written one. */
export async function buildBotBundle(): Promise<BotBundle> {
  const result = await build({
    entryPoints,
    outdir: outDir,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: packageDependencies(),
    plugins: [ownImportMeta],
    sourcemap: "linked",
    metafile: true,
    write: false,
    absWorkingDir: repoRoot,
    logLevel: "error",
  });
  mkdirSync(outDir, { recursive: true });
  const suffix = `.${process.pid}.tmp`;
  for (const file of result.outputFiles) writeFileSync(file.path + suffix, file.contents);
  for (const file of result.outputFiles) renameSync(file.path + suffix, file.path);
  // What it was built from, and the package lists that decide what is bundled.
  const inputs = [...Object.keys(result.metafile.inputs), "bot/package.json", "sandbox/package.json"];
  const stamp = Object.fromEntries(inputs.map((p) => [p, statSync(join(repoRoot, p)).mtimeMs]));
  writeFileSync(stampPath + suffix, JSON.stringify(stamp));
  renameSync(stampPath + suffix, stampPath);
  return botBundle;
}

/** Whether the bundle exists and no file it was built from has changed since. */
export function botBundleIsFresh(): boolean {
  if (!existsSync(botBundle.main) || !existsSync(botBundle.polyfill) || !existsSync(stampPath)) return false;
  try {
    const stamp = JSON.parse(readFileSync(stampPath, "utf8")) as Record<string, number>;
    return Object.entries(stamp).every(([p, mtime]) => statSync(join(repoRoot, p)).mtimeMs === mtime);
  } catch {
    return false;
  }
}

/** The bundle, built first when missing or stale. Synchronous, for callers that spawn the bot
 * synchronously: the build runs in a child process (scripts/build-bot.ts). */
export function ensureBotBundle(): BotBundle {
  if (botBundleIsFresh()) return botBundle;
  const tsx = createRequire(import.meta.url).resolve("tsx");
  execFileSync(process.execPath, ["--import", pathToFileURL(tsx).href, join(repoRoot, "scripts/build-bot.ts")], { cwd: repoRoot, stdio: ["ignore", "ignore", "inherit"] });
  return botBundle;
}

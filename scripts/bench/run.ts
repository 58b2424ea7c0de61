// `npm run bench [-- --json] [-- --only NAME]`: finds every `*.bench.ts` under bot/bench and
// sandbox/bench, runs them one after another and prints one line per metric.
import { readdirSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type Bench, ratioOf, targetMet, targetText } from "./metric.ts";

const root = resolve(import.meta.dirname, "../..");
const dirs = ["bot/bench", "sandbox/bench"].map((d) => join(root, d));

function parseArgs(argv: string[]): { json: boolean; only: string | null } {
  let json = false;
  let only: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") json = true;
    else if (a === "--only") {
      only = argv[++i] ?? null;
      if (!only) throw new Error("--only needs a benchmark name");
    } else if (a === "--") continue;
    else throw new Error(`unknown option ${a}; use --json and/or --only NAME`);
  }
  return { json, only };
}

async function loadBenches(): Promise<Bench[]> {
  const benches: Bench[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".bench.ts")).sort()) {
      const mod = (await import(pathToFileURL(join(dir, file)).href)) as { default: Bench };
      benches.push(mod.default);
    }
  }
  return benches;
}

async function main(): Promise<number> {
  const { json, only } = parseArgs(process.argv.slice(2));
  const benches = (await loadBenches()).filter((b) => !only || b.name === only || b.name.startsWith(only));
  if (benches.length === 0) {
    console.error(only ? `no benchmark named ${only}` : "no benchmarks found");
    return 2;
  }
  let allMet = true;
  for (const bench of benches) {
    if (!json) console.log(`# ${bench.name}`);
    for (const m of await bench.run()) {
      const ratio = ratioOf(m);
      const met = targetMet(m);
      allMet &&= met !== false;
      if (json) {
        console.log(JSON.stringify({ name: m.name, value: m.value, unit: m.unit, baseline: m.baseline, ratio, target: targetText(m.target), met }));
      } else {
        const base = m.baseline === null ? "" : `  baseline ${m.baseline.toFixed(3)} ${m.unit}  ratio ${ratio?.toFixed(3)}`;
        const verdict = met === null ? "reference, no target" : `target ${targetText(m.target)}  ${met ? "met" : "NOT MET"}`;
        console.log(`  ${m.name}: ${m.value.toFixed(3)} ${m.unit}${base}  ${verdict}`);
      }
    }
  }
  return allMet ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  },
);

// `pocketcoder audit verify|export|tail`: checks and reads the ledger's audit chain. Opens the
// database read-only, so checking a suspect file never changes it.
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { exportLine } from "../ledger/audit-read.ts";
import { type Anchor, Ledger, parseAnchors } from "../ledger/ledger.ts";
import type { CliHandler } from "./main.ts";

const usage = `usage:
  pocketcoder audit verify [--db PATH] [--anchors FILE]   exit 0 when the chain is intact, 1 naming the first bad entry
  pocketcoder audit export [--db PATH] [--since SEQ]      every entry after SEQ (default 0) as JSON lines
  pocketcoder audit tail [-n N] [--db PATH]               the last N entries (default 10) as JSON lines

--db defaults to $POCKETCODER_DATA_DIR/pocketcoder.db (POCKETCODER_DATA_DIR defaults to ./data/bot).
An anchors file holds JSON lines {"seq":N,"hash":"…"} published earlier (lines of \`audit tail\` qualify).`;

class Misuse extends Error {}

export function defaultLedgerPath(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(join(env.POCKETCODER_DATA_DIR || "./data/bot", "pocketcoder.db"));
}

function wholeNumber(flag: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw new Misuse(`${flag} must be a whole number ≥ ${min}, not "${value}"`);
  }
  return Number(value);
}

function openLedger(dbFlag: string | undefined): Ledger {
  const path = dbFlag ? resolve(dbFlag) : defaultLedgerPath();
  if (!existsSync(path)) throw new Misuse(`no ledger database at ${path} (pass --db PATH or set POCKETCODER_DATA_DIR)`);
  try {
    return Ledger.open(path, { readonly: true });
  } catch (err) {
    throw new Misuse((err as Error).message);
  }
}

function readAnchors(file: string): Anchor[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Misuse(`cannot read anchors file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return parseAnchors(text, file);
  } catch (err) {
    throw new Misuse((err as Error).message);
  }
}

async function verify(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { db: { type: "string" }, anchors: { type: "string" } }, strict: true });
  const anchors = values.anchors === undefined ? [] : readAnchors(values.anchors);
  const ledger = openLedger(values.db);
  try {
    const result = await ledger.verifyAsync({ anchors });
    if (!result.ok) {
      console.error(`audit chain BROKEN at seq ${result.seq} (${result.reason}): ${result.message}`);
      console.error(`${result.verified} entries before it verified`);
      return 1;
    }
    const checked = anchors.length ? `, ${result.anchorsChecked} anchors matched` : "";
    console.log(`audit chain intact: ${result.count} entries${checked}; head seq ${result.head.seq} hash ${result.head.hash}`);
    return 0;
  } finally {
    ledger.close();
  }
}

async function exportEntries(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { db: { type: "string" }, since: { type: "string" } }, strict: true });
  const since = wholeNumber("--since", values.since, 0, 0);
  const ledger = openLedger(values.db);
  try {
    // Honour back-pressure so exporting a long chain into a slow pipe does not buffer it all in memory.
    for (const entry of ledger.entries(since)) {
      if (!process.stdout.write(exportLine(entry) + "\n")) await once(process.stdout, "drain");
    }
    return 0;
  } finally {
    ledger.close();
  }
}

function tail(args: string[]): number {
  const { values } = parseArgs({ args, options: { db: { type: "string" }, n: { type: "string", short: "n" } }, strict: true });
  const n = wholeNumber("-n", values.n, 10, 1);
  const ledger = openLedger(values.db);
  try {
    for (const entry of ledger.tail(n)) console.log(exportLine(entry));
    return 0;
  } finally {
    ledger.close();
  }
}

const subcommands: Record<string, (args: string[]) => number | Promise<number>> = { verify, export: exportEntries, tail };

export const auditCommand: CliHandler = async (args) => {
  const [name, ...rest] = args;
  if (name === "--help" || name === "-h" || name === "help") {
    console.log(usage);
    return 0;
  }
  const run = name && Object.hasOwn(subcommands, name) ? subcommands[name] : undefined;
  if (!run) {
    console.error(`pocketcoder audit: ${name ? `unknown subcommand "${name}"` : "missing subcommand"}\n\n${usage}`);
    return 2;
  }
  try {
    return await run(rest);
  } catch (err) {
    // parseArgs reports unknown or incomplete flags as TypeErrors with an ERR_PARSE_ARGS_* code.
    const code = (err as NodeJS.ErrnoException).code ?? "";
    if (err instanceof Misuse || code.startsWith("ERR_PARSE_ARGS")) {
      console.error(`pocketcoder audit ${name}: ${(err as Error).message}\n\n${usage}`);
      return 2;
    }
    throw err;
  }
};

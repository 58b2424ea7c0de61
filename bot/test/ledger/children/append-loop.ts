// Child for the crash test: appends until killed, and acknowledges each append on stdout only
// after its transaction has committed. Usage: append-loop.ts DB_PATH
import { writeSync } from "node:fs";
import { Ledger } from "../../../src/ledger/ledger.ts";

const ledger = Ledger.open(process.argv[2]!);
for (let i = 0; ; i++) {
  const entry = ledger.append("test.tick", "child", { i, pad: "x".repeat(i % 200) });
  writeSync(1, `${entry.seq} ${i}\n`);
}

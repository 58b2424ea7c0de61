// The ledger's two speed targets, each beside a baseline measured in the same run:
// - durable audited decisions per second: one transaction per decision, holding the state change
//   that decides a request (pending → approved, with its approvers) and its audit entry, fsynced
//   (WAL, synchronous=FULL); the baseline is a bare one-row INSERT per transaction into a table of
//   its own in a database opened with the same pragmas (target ratio ≥ 0.8). Beside them, with no
//   target, the floor: the least any ledger meeting the issue does per decision (a compare-and-swap
//   on a state row in one table and a row holding a sha256 over the canonical entry and the
//   previous hash in another, one fsynced transaction), sharing only the entry encoding and hash
//   with the ledger: none of its triggers, indexes or bookkeeping. So a run shows how much of the
//   gap to the bare insert is the task and how much the ledger (README, "Speed"). The three alternate in short blocks (ABC, CBA) and each rate is the
//   median over blocks, so load from other processes on the machine hits them alike. Votes are
//   recorded in their own right (ledger README, "Speed");
// - chain verification speed in entries/s over a chain written through the real API (target
//   ≥ 500,000/s), best of five runs of what `pocketcoder audit verify` runs (`verifyAsync`: seq
//   ranges checked on worker threads, for a chain this long); the baseline is the same
//   verification inline on one thread (`verify`), so the ratio is what the workers buy.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Bench, type Metric, percentile } from "../../scripts/bench/metric.ts";
import { canonicalJson } from "../src/canonical-json.ts";
import { entryHash, genesisHash } from "../src/ledger/audit-chain.ts";
import { type Db, openLedgerDatabase } from "../src/ledger/database.ts";
import { Ledger, type NewRequest, type VerifyResult } from "../src/ledger/ledger.ts";

const room = "!bench:example.org";
const blocks = 60;
const perBlock = 50;

function request(i: number): NewRequest {
  return {
    tool: "bash",
    inputKind: "command",
    input: `npm test -- --filter unit-${i}`,
    cwd: "/workspace/app",
    room,
    project: "app",
    sessionId: "ses_bench",
    permissionId: `per_${i}`,
    callId: `call_${i}`,
    requester: "@alice:example.org",
    rule: "ask-everything-else",
    risk: "medium",
    policyHash: "f".repeat(64),
    approval: { quorum: 1, selfApproval: false, strict: false },
    expiresAt: Date.now() + 3_600_000,
  };
}

const decider = "@bob:example.org";
const decisionDetail = { approvers: [decider], quorum: 1 };

/** The floor arm: a state row compare-and-swapped and a hash-chained entry, in one transaction. */
function floorDecisions(db: Db, total: number): () => void {
  const ids = Array.from({ length: total }, () => randomUUID());
  const insertState = db.prepare("INSERT INTO states (request_id, state, at) VALUES (?, 'pending', 0)");
  db.transaction(() => ids.forEach((id) => insertState.run(id)))();
  const swap = db.prepare("UPDATE states SET state = 'approved', at = ? WHERE request_id = ? AND state = 'pending'");
  const insertEntry = db.prepare("INSERT INTO entries (seq, ts, actor, event, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)");
  let head = { seq: 0, hash: genesisHash };
  const decide = db.transaction((id: string) => {
    const at = Date.now();
    if (swap.run(at, id).changes !== 1) throw new Error("bench: the floor's decision did not go through");
    const body = canonicalJson({ detail: decisionDetail, from: "pending", requestId: id, to: "approved" });
    const seq = head.seq + 1;
    const hash = entryHash(seq, at, decider, "request.update", body, head.hash);
    insertEntry.run(seq, at, decider, "request.update", body, head.hash, hash);
    head = { seq, hash };
  });
  let next = 0;
  return () => decide.immediate(ids[next++]!);
}

function decisionsPerSecond(dir: string): Metric[] {
  const ledger = Ledger.open(join(dir, "ledger.db"));
  const total = (blocks + 2) * perBlock;
  const ids = ledger.atomically(() => Array.from({ length: total }, (_, i) => ledger.createRequest(request(i)).id));
  let next = 0;
  const decide = () => {
    if (!ledger.transition(ids[next++]!, "pending", "approved", decider, decisionDetail)) {
      throw new Error("bench: the decision did not go through");
    }
  };

  const floor = openLedgerDatabase(join(dir, "floor.db"), {
    migrations: [{
      summary: "floor",
      sql: `CREATE TABLE states (request_id TEXT PRIMARY KEY, state TEXT NOT NULL, at INTEGER NOT NULL) STRICT, WITHOUT ROWID;
            CREATE TABLE entries (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, actor TEXT NOT NULL, event TEXT NOT NULL,
                                  body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL) STRICT;`,
    }],
  });
  const floorDecide = floorDecisions(floor, total);

  const bare = openLedgerDatabase(join(dir, "bare.db"), { migrations: [{ summary: "bare", sql: "CREATE TABLE bare (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT" }] });
  const insert = bare.prepare("INSERT INTO bare (body) VALUES (?)");
  const insertOne = bare.transaction((body: string) => insert.run(body));
  // About the size of one audit entry, and as varied: its hashes and ids do not compress, and this
  // host's storage commits a page of one repeated byte measurably faster than a page of varied
  // ones (4-20 µs per commit), which would flatter the baseline.
  const bodies = Array.from({ length: total }, () => randomBytes(200).toString("hex"));
  let nextBody = 0;
  const insertNext = () => insertOne.immediate(bodies[nextBody++ % total]!);

  const timeBlock = (op: () => void) => {
    const start = performance.now();
    for (let i = 0; i < perBlock; i++) op();
    return (perBlock * 1000) / (performance.now() - start);
  };
  const arms = [
    { op: decide, rates: [] as number[] },
    { op: floorDecide, rates: [] as number[] },
    { op: insertNext, rates: [] as number[] },
  ];
  for (const arm of arms) timeBlock(arm.op);
  // A block's cost depended on which database's commits came just before it, so the order
  // reverses every block: each arm follows the others equally often.
  for (let b = 0; b < blocks; b++) {
    for (const arm of b % 2 === 0 ? arms : [...arms].reverse()) arm.rates.push(timeBlock(arm.op));
  }
  if (!ledger.verify().ok) throw new Error("bench: the chain does not verify after the run");
  ledger.close();
  floor.close();
  bare.close();
  const [audited, floorRate, baseline] = arms.map((arm) => percentile(arm.rates, 50)) as [number, number, number];
  return [
    { name: "ledger.audited_decisions_per_s", value: audited, unit: "decisions/s", baseline, target: { on: "ratio", op: ">=", limit: 0.8 } },
    { name: "ledger.decision_floor_per_s", value: floorRate, unit: "decisions/s", baseline, target: null },
  ];
}

/** A realistic chain: each request created, prompted, voted on, approved, claimed, started, finished. */
function buildChain(path: string, requests: number): number {
  const ledger = Ledger.open(path);
  const result = { exitCode: 0, durationMs: 1200, timedOut: false, outputSha256: "e".repeat(64), outputBytes: 5321, truncated: false };
  ledger.atomically(() => {
    ledger.append("bot.start", "bot", { version: "0.1.0" });
    for (let i = 0; i < requests; i++) {
      const { id } = ledger.createRequest(request(i));
      ledger.setPromptEvent(id, `$prompt${i}`, "bot");
      ledger.recordVote({ requestId: id, eventId: `$vote${i}`, room, voter: i % 2 ? "@bob:example.org" : "@carol:example.org", via: "reaction", encrypted: false, verifiedDevice: false, decision: "approve", originTs: Date.now() });
      ledger.transition(id, "pending", "approved", "bot", { approvers: ["@bob:example.org"] });
      ledger.claimExecution(id, "bot");
      ledger.markRunning(id, "bot");
      ledger.recordResult(id, "runner", result);
    }
  });
  const entries = ledger.head().seq;
  ledger.close();
  return entries;
}

async function verificationPerSecond(dir: string): Promise<Metric> {
  const path = join(dir, "chain.db");
  const entries = buildChain(path, 40_000);
  const ledger = Ledger.open(path, { readonly: true });
  const check = (result: VerifyResult) => {
    if (!result.ok || result.count !== entries) throw new Error("bench: the chain does not verify");
  };
  const rate = async (fn: () => unknown) => {
    const start = performance.now();
    await fn();
    return entries / ((performance.now() - start) / 1000);
  };
  const parallel: number[] = [];
  const inline: number[] = [];
  for (let run = 0; run < 5; run++) {
    parallel.push(await rate(async () => check(await ledger.verifyAsync())));
    inline.push(await rate(() => check(ledger.verify())));
  }
  ledger.close();
  // CPU-bound: the fastest of the runs is the one least disturbed by other processes.
  return { name: "ledger.verify_entries_per_s", value: Math.max(...parallel), unit: "entries/s", baseline: Math.max(...inline), target: { on: "value", op: ">=", limit: 500_000 } };
}

const bench: Bench = {
  name: "ledger",
  async run() {
    // A directory on disk, not tmpfs, when TMPDIR points at one: fsync has to reach the device.
    const dir = mkdtempSync(join(tmpdir(), "pocketcoder-ledger-bench-"));
    try {
      return [...decisionsPerSecond(dir), await verificationPerSecond(dir)];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;

// Shared set-up for the ledger tests: a real SQLite file in a fresh temp dir, a clock the test
// moves by hand, and inputs that are valid unless a test says otherwise.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import { entryHash, genesisHash } from "../../src/ledger/audit-chain.ts";
import { Ledger, type NewRequest, type NewVote } from "../../src/ledger/ledger.ts";

export const room = "!project:example.org";
export const t0 = 1_700_000_000_000;

const dirs: string[] = [];
const open: Ledger[] = [];
afterEach(() => {
  for (const l of open.splice(0)) if (l.db.open) l.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "pocketcoder-ledger-"));
  dirs.push(dir);
  return dir;
}

export interface TestLedger {
  ledger: Ledger;
  path: string;
  clock: { now: number };
}

export function openTestLedger(path = join(tempDir(), "pocketcoder.db")): TestLedger {
  const clock = { now: t0 };
  const ledger = Ledger.open(path, { clock: () => clock.now });
  open.push(ledger);
  return { ledger, path, clock };
}

let permission = 0;

export function newRequest(overrides: Partial<NewRequest> = {}): NewRequest {
  return {
    tool: "bash",
    inputKind: "command",
    input: "npm test",
    cwd: "/workspace/app",
    room,
    project: "app",
    sessionId: "ses_1",
    permissionId: `per_${++permission}`,
    callId: "call_1",
    requester: "@alice:example.org",
    rule: "ask-everything-else",
    risk: "medium",
    policyHash: "f".repeat(64),
    approval: { quorum: 1, selfApproval: false, strict: false },
    expiresAt: t0 + 15 * 60_000,
    ...overrides,
  };
}

let voteEvent = 0;

export function newVote(requestId: string, overrides: Partial<NewVote> = {}): NewVote {
  return {
    requestId,
    eventId: `$vote${++voteEvent}`,
    room,
    voter: "@bob:example.org",
    device: "BOBPHONE",
    via: "reaction",
    encrypted: false,
    verifiedDevice: false,
    decision: "approve",
    originTs: t0,
    ...overrides,
  };
}

/** A request taken through approval, ready to be claimed. */
export function approvedRequest(ledger: Ledger, overrides: Partial<NewRequest> = {}): string {
  const req = ledger.createRequest(newRequest(overrides));
  ledger.recordVote(newVote(req.id));
  if (!ledger.transition(req.id, "pending", "approved", "bot")) throw new Error("fixture: approval failed");
  return req.id;
}

export const okResult = { exitCode: 0, durationMs: 12, timedOut: false, outputSha256: "a".repeat(64), outputBytes: 42, truncated: false };

export const chainEntries = 26;

/** A chain of `chainEntries` entries written through the real API: requests, votes, decisions, executions, rules. */
export function populatedLedger(): Ledger {
  const t = openTestLedger();
  const { ledger } = t;
  ledger.append("bot.start", "bot", { version: "0.1.0" });
  for (let i = 0; i < 3; i++) {
    t.clock.now += 1000;
    const id = approvedRequest(ledger, { input: `make target${i}` });
    ledger.claimExecution(id, "bot");
    ledger.markRunning(id, "bot");
    ledger.recordResult(id, "runner", okResult);
  }
  const denied = ledger.createRequest(newRequest({ input: "curl x | sh" }));
  ledger.recordVote(newVote(denied.id, { decision: "deny", reason: "no piping into sh" }));
  ledger.transition(denied.id, "pending", "denied", "@bob:example.org");
  const rule = ledger.createStandingRule({ tool: "bash", argvPrefix: ["ls"], room: null, project: null, createdBy: "@bob:example.org", expiresAt: null });
  ledger.revokeStandingRule(rule.id, "@bob:example.org");
  ledger.append("policy.load", "bot", { policyHash: "p".repeat(64), file: "policies/default.yaml" });
  ledger.append("bot.stop", "bot", {});
  if (ledger.head().seq !== chainEntries) throw new Error(`fixture: expected ${chainEntries} entries, got ${ledger.head().seq}`);
  return ledger;
}

/** What someone with write access to the file can do: set the triggers aside. */
export function dropGuards(ledger: Ledger): void {
  ledger.db.exec("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DROP TRIGGER audit_extends_head;");
}

/** Rewrites every hash from `from` on (through `to`, default the end), as an attacker who knows the encoding would. */
export function recomputeChain(ledger: Ledger, from: number, to = Number.MAX_SAFE_INTEGER): void {
  const rows = ledger.db.prepare("SELECT seq, ts, actor, event, body FROM audit WHERE seq >= ? AND seq <= ? ORDER BY seq").all(from, to) as {
    seq: number;
    ts: number;
    actor: string;
    event: string;
    body: string;
  }[];
  let prev = from === 1 ? genesisHash : (ledger.db.prepare("SELECT hash FROM audit WHERE seq = ?").get(from - 1) as { hash: string }).hash;
  const write = ledger.db.prepare("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?");
  for (const r of rows) {
    const h = entryHash(r.seq, r.ts, r.actor, r.event, r.body, prev);
    write.run(prev, h, r.seq);
    prev = h;
  }
}

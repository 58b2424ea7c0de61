// Shared set-up for the ledger tests: a real SQLite file in a fresh temp dir, a clock the test
// moves by hand, and inputs that are valid unless a test says otherwise.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
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

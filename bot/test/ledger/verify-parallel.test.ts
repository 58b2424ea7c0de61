// The parallel verifier (seq ranges checked on worker threads) forced onto a short chain, so a bug
// in the split or the join shows: tampering inside a later range, at range boundaries, anchors in
// different ranges. Each case is checked against the expected entry and reason, and against the
// inline verifier's result, message for message.
import { rmSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { planRanges } from "../../src/ledger/verify-parallel.ts";
import { chainEntries as N, dropGuards, openTestLedger, populatedLedger, recomputeChain } from "./fixtures.ts";

/** Ranges of 9 entries on two workers, whatever the chain's length and the machine's cores: one
 * worker checks two ranges. */
const forced = { minEntries: 0, workers: 2, rangeEntries: 9 };
// The ranges `forced` gives a chain of N = 26 entries (pinned by the first test).
const first = { from: 1, to: 9 };
const second = { from: 10, to: 18 };
const third = { from: 19, to: 26 };

function hashAt(ledger: Ledger, seq: number): string {
  return ledger.tail(N).find((e) => e.seq === seq)!.hash;
}

/** The parallel result, after checking it is the inline one. */
async function parallel(ledger: Ledger, anchors: { seq: number; hash: string }[] = []) {
  const result = await ledger.verifyAsync({ anchors, ...forced });
  expect(result).toEqual(ledger.verify({ anchors }));
  return result;
}

describe("the split", () => {
  it("cuts 1..head into contiguous ranges", () => {
    expect(planRanges(N, forced.rangeEntries)).toEqual([first, second, third]);
    expect(planRanges(18, 9)).toEqual([first, second]);
    expect(planRanges(0, 9)).toEqual([]);
  });
});

describe("verification in parallel", () => {
  it("verifies an intact chain, with its head", async () => {
    const ledger = populatedLedger();
    expect(await parallel(ledger)).toEqual({ ok: true, count: N, head: ledger.head(), anchorsChecked: 0 });
  });

  const edits: [what: string, sql: string, reason: string][] = [
    ["actor", "UPDATE audit SET actor = '@mallory:example.org' WHERE seq = ?", "content_hash_mismatch"],
    ["hash", "UPDATE audit SET hash = replace(hash, substr(hash, 1, 1), CASE substr(hash, 1, 1) WHEN 'a' THEN 'b' ELSE 'a' END) WHERE seq = ?", "content_hash_mismatch"],
    ["prev_hash", "UPDATE audit SET prev_hash = replace(prev_hash, substr(prev_hash, 1, 1), CASE substr(prev_hash, 1, 1) WHEN 'a' THEN 'b' ELSE 'a' END) WHERE seq = ?", "broken_prev_link"],
    ["seq", "UPDATE audit SET seq = seq + 1000 WHERE seq = ?", "seq_gap"],
    ["deleting", "DELETE FROM audit WHERE seq = ?", "seq_gap"],
  ];
  const places: [where: string, seq: number][] = [
    ["the middle of the last range", 22],
    ["the first entry of a range", second.from],
    ["the last entry of a range", second.to],
    ["the first entry", 1],
    ["the last entry", N],
  ];
  // Moving an entry past the head moves the head too, and so the ranges: the seq cases split 1..1000+.
  for (const [what, sql, reason] of edits) {
    it.each(places)(`${what}: detected at %s`, async (_where, seq) => {
      const ledger = populatedLedger();
      const published = ledger.head();
      dropGuards(ledger);
      ledger.db.prepare(sql).run(seq);
      // Deleting the last entry leaves no gap: only the published head tells it is missing.
      const expected = what === "deleting" && seq === N ? "missing_after_anchor" : reason;
      expect(await parallel(ledger, [published])).toMatchObject({ ok: false, seq, reason: expected, verified: seq - 1 });
    });
  }

  it("an entry rewritten with a matching hash at the end of a range breaks the link into the next", async () => {
    const ledger = populatedLedger();
    dropGuards(ledger);
    ledger.db.prepare("UPDATE audit SET actor = '@mallory:example.org' WHERE seq = ?").run(first.to);
    recomputeChain(ledger, first.to, first.to);
    // Each range holds up on its own; only the join sees that the second does not follow the first.
    expect(await parallel(ledger)).toMatchObject({ ok: false, seq: second.from, reason: "broken_prev_link" });
  });

  it("a whole range missing is a gap at its first entry, naming the next entry there is", async () => {
    const ledger = populatedLedger();
    dropGuards(ledger);
    ledger.db.prepare("DELETE FROM audit WHERE seq BETWEEN ? AND ?").run(second.from, second.to);
    expect(await parallel(ledger)).toMatchObject({ ok: false, seq: second.from, reason: "seq_gap", message: `seq ${second.from}: entry is missing (the next entry has seq ${third.from})` });
  });

  it("reports the first failure in seq order when several ranges fail", async () => {
    const ledger = populatedLedger();
    dropGuards(ledger);
    ledger.db.exec("UPDATE audit SET actor = 'x' WHERE seq IN (5, 12, 22)");
    expect(await parallel(ledger)).toMatchObject({ ok: false, seq: 5, reason: "content_hash_mismatch", verified: 4 });
  });

  it("a broken link into a range comes before a failure inside it", async () => {
    const ledger = populatedLedger();
    dropGuards(ledger);
    ledger.db.exec(`UPDATE audit SET actor = 'x' WHERE seq = ${third.from + 1}`);
    ledger.db.exec(`UPDATE audit SET prev_hash = '${"0".repeat(64)}' WHERE seq = ${third.from}`);
    expect(await parallel(ledger)).toMatchObject({ ok: false, seq: third.from, reason: "broken_prev_link" });
  });

  it("checks anchors in every range, and at the boundaries", async () => {
    const ledger = populatedLedger();
    const anchors = [5, second.from, 12, second.to, third.from, 22, N].map((seq) => ({ seq, hash: hashAt(ledger, seq) }));
    expect(await parallel(ledger, anchors)).toMatchObject({ ok: true, count: N, anchorsChecked: anchors.length });
    const wrong = (seq: number) => ({ seq, hash: "e".repeat(64) });
    expect(await parallel(ledger, [...anchors, wrong(20)])).toMatchObject({ ok: false, seq: 20, reason: "anchor_mismatch" });
    expect(await parallel(ledger, [wrong(20), ...anchors, wrong(second.to)])).toMatchObject({ ok: false, seq: second.to, reason: "anchor_mismatch" });
    expect(await parallel(ledger, [...anchors, { seq: N + 4, hash: hashAt(ledger, N) }])).toMatchObject({ ok: false, seq: N + 1, reason: "missing_after_anchor" });
  });

  it("recomputing the chain from an edit in a later range: detected at the first anchor after it", async () => {
    const ledger = populatedLedger();
    const anchors = [5, 12, 22].map((seq) => ({ seq, hash: hashAt(ledger, seq) }));
    dropGuards(ledger);
    ledger.db.prepare("UPDATE audit SET actor = '@mallory:example.org' WHERE seq = ?").run(second.from + 1);
    recomputeChain(ledger, second.from + 1);
    expect(await parallel(ledger)).toMatchObject({ ok: true, count: N });
    expect(await parallel(ledger, anchors)).toMatchObject({ ok: false, seq: 12, reason: "anchor_mismatch" });
    expect(await parallel(ledger, [anchors[0]!])).toMatchObject({ ok: true, anchorsChecked: 1 });
  });

  it("an entry stored below seq 1 is reported at seq 1", async () => {
    const ledger = populatedLedger();
    dropGuards(ledger);
    ledger.db.exec(`INSERT INTO audit (seq, ts, actor, event, body, prev_hash, hash) SELECT 0, ts, actor, event, body, prev_hash, hash FROM audit WHERE seq = 1`);
    expect(await parallel(ledger)).toMatchObject({ ok: false, seq: 1, reason: "seq_gap", message: "seq 1: entry is missing (the next entry has seq 0)" });
  });

  it("a truncated tail: detected with a published anchor", async () => {
    const ledger = populatedLedger();
    const published = ledger.head();
    dropGuards(ledger);
    ledger.db.exec(`DELETE FROM audit WHERE seq > ${second.to + 2}`);
    expect(await parallel(ledger)).toMatchObject({ ok: true, count: second.to + 2 });
    expect(await parallel(ledger, [published])).toMatchObject({ ok: false, seq: second.to + 3, reason: "missing_after_anchor" });
  });

  it("fails, rather than reporting, when a worker cannot read the database", async () => {
    const { ledger, path } = openTestLedger();
    for (let i = 0; i < 20; i++) ledger.append("bot.start", "bot", { i });
    rmSync(path);
    await expect(ledger.verifyAsync(forced)).rejects.toThrow(`opening ${path}: unable to open database file`);
  });
});

// Walks the whole chain once, in seq order, and reports the first entry that does not hold up.
// Rows are read raw (arrays, no objects) and the encoding is rebuilt by concatenation, because
// verification runs at start-up and on demand over the whole history (target ≥ 500,000 entries/s).
import { hash } from "node:crypto";
import { z } from "zod";
import { type ChainHead, genesisHash } from "./audit-chain.ts";
import type { Db } from "./database.ts";

/** A head published outside the database (control room, a file, a signed checkpoint). */
export const Anchor = z.object({
  seq: z.number().int().positive(),
  hash: z.string().regex(/^[0-9a-f]{64}$/, "hash must be 64 lower-case hex digits"),
});
export type Anchor = z.infer<typeof Anchor>;

export type VerifyFailureReason =
  | "seq_gap"
  | "broken_prev_link"
  | "content_hash_mismatch"
  | "anchor_mismatch"
  | "missing_after_anchor";

export type VerifyResult =
  | { ok: true; count: number; head: ChainHead; anchorsChecked: number }
  | { ok: false; seq: number; reason: VerifyFailureReason; message: string; verified: number };

export function verifyChain(db: Db, anchors: readonly Anchor[] = []): VerifyResult {
  const pending = [...anchors].sort((a, b) => a.seq - b.seq);
  let next = 0;
  let expected = 1;
  let prev = genesisHash;
  const rows = db.prepare("SELECT seq, ts, actor, event, body, prev_hash, hash FROM audit ORDER BY seq").raw().iterate() as IterableIterator<
    [number, number, string, string, string, string, string]
  >;
  for (const row of rows) {
    // Leaving the loop early (return) closes the statement's iterator.
    const seq = row[0];
    if (seq !== expected) return failure("seq_gap", expected, `entry is missing (the next entry has seq ${seq})`);
    if (row[5] !== prev) return failure("broken_prev_link", seq, `prev_hash ${row[5]} does not match the previous entry's hash ${prev}`);
    const computed = hash(
      "sha256",
      `{"actor":${JSON.stringify(row[2])},"body":${row[4]},"event":${JSON.stringify(row[3])},"prev_hash":"${prev}","seq":${seq},"ts":${row[1]}}`,
    );
    if (computed !== row[6]) return failure("content_hash_mismatch", seq, `content hash mismatch (stored ${row[6]}, computed ${computed})`);
    while (next < pending.length && pending[next]!.seq === seq) {
      const anchor = pending[next++]!;
      if (anchor.hash !== computed) return failure("anchor_mismatch", seq, `anchor hash mismatch (anchor ${anchor.hash}, chain ${computed})`);
    }
    prev = computed;
    expected = seq + 1;
  }
  const count = expected - 1;
  const beyond = pending[next];
  if (beyond) {
    return failure("missing_after_anchor", count + 1, `the chain ends at seq ${count} but an anchor records seq ${beyond.seq}; entries after ${count} are missing`);
  }
  return { ok: true, count, head: { seq: count, hash: prev }, anchorsChecked: pending.length };
}

/** Every entry before `seq` was verified, so that count comes from the seq itself. */
function failure(reason: VerifyFailureReason, seq: number, message: string): VerifyResult {
  return { ok: false, seq, reason, message: `seq ${seq}: ${message}`, verified: seq - 1 };
}

/** Reads an anchors file: JSON lines, each an object with at least `seq` and `hash` (other keys,
 * such as those of `audit tail` output, are ignored); blank lines and lines starting with # are skipped. */
export function parseAnchors(text: string, source: string): Anchor[] {
  const anchors: Anchor[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`${source}:${i + 1}: not JSON`);
    }
    const parsed = Anchor.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Error(`${source}:${i + 1}: ${issue.path.join(".") || "line"}: ${issue.message}`);
    }
    anchors.push(parsed.data);
  });
  return anchors;
}

// Checks the chain in seq order and reports the first entry that does not hold up. The check of
// one seq range lives in verify-range.js, shared with the worker threads of verify-parallel.ts;
// this module runs it over the whole chain inline and joins ranges checked apart.
import { z } from "zod";
import { type ChainHead, genesisHash } from "./audit-chain.ts";
import type { Db } from "./database.ts";
import { type RangeResult, type VerifyFailure, brokenLink, checkRange, failure } from "./verify-range.js";

/** A head published outside the database (control room, a file, a signed checkpoint). */
export const Anchor = z.object({
  seq: z.number().int().positive(),
  hash: z.string().regex(/^[0-9a-f]{64}$/, "hash must be 64 lower-case hex digits"),
});
export type Anchor = z.infer<typeof Anchor>;

export type { VerifyFailureReason } from "./verify-range.js";

export type VerifyResult = { ok: true; count: number; head: ChainHead; anchorsChecked: number } | VerifyFailure;

/** The whole chain on this thread, in one read transaction so every page comes from one snapshot. */
export function verifyChain(db: Db, anchors: readonly Anchor[] = []): VerifyResult {
  const sorted = inSeqOrder(anchors);
  const result = db.transaction(() => checkRange(db, 1, Number.MAX_SAFE_INTEGER, sorted))();
  return joinRanges([result], sorted);
}

export function inSeqOrder(anchors: readonly Anchor[]): Anchor[] {
  return [...anchors].sort((a, b) => a.seq - b.seq);
}

/** Joins the results of contiguous ranges checked apart, given in seq order, into the result for
 * the chain: each range's first entry must link to the hash the range before ended on (the first
 * range's to the genesis hash), and the first failure in seq order is the one reported. `anchors`
 * are all of them, in seq order; those past the chain's end are reported here. A range that ends
 * early ends the chain, and the ranges after it are empty. */
export function joinRanges(results: readonly RangeResult[], anchors: readonly Anchor[]): VerifyResult {
  let prev = genesisHash;
  let count = 0;
  for (const result of results) {
    if (result.firstPrevHash !== null && result.firstPrevHash !== prev) return brokenLink(count + 1, result.firstPrevHash, prev);
    if (result.failure) return result.failure;
    prev = result.lastHash ?? prev;
    count += result.count;
  }
  const beyond = anchors.find((a) => a.seq > count);
  if (beyond) {
    return failure("missing_after_anchor", count + 1, `the chain ends at seq ${count} but an anchor records seq ${beyond.seq}; entries after ${count} are missing`);
  }
  return { ok: true, count, head: { seq: count, hash: prev }, anchorsChecked: anchors.length };
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

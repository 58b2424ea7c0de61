// @ts-check
// Checks one contiguous seq range of the audit chain: the inline verifier runs it over the whole
// chain, the worker threads (verify-worker.js) over the ranges they are given, and verify-chain.ts
// joins the ranges. JavaScript rather than TypeScript because a worker thread cannot load
// TypeScript without starting tsx again, which measured 500-700 ms per worker on the 2-core VM:
// longer than verifying the whole 280k-entry bench chain. Type-checked through JSDoc (tsconfig
// allowJs + @ts-check).
import { hash } from "node:crypto";

/**
 * @typedef {import("better-sqlite3").Database} Db
 * @typedef {{ seq: number, hash: string }} RangeAnchor
 * @typedef {"seq_gap" | "broken_prev_link" | "content_hash_mismatch" | "anchor_mismatch" | "missing_after_anchor"} VerifyFailureReason
 * @typedef {{ ok: false, seq: number, reason: VerifyFailureReason, message: string, verified: number }} VerifyFailure
 * @typedef {object} RangeResult
 * @property {string | null} firstPrevHash the stored prev_hash of the range's first entry; null when that entry is missing
 * @property {number} count entries checked and found good, from the range's first seq on
 * @property {string | null} lastHash the hash of the last of them; null when there are none
 * @property {VerifyFailure | null} failure the first bad entry in the range
 * @typedef {[seq: number, encoding: string, prevHash: string, hash: string]} Row
 */

/** Rows per read: paged `.all()` measured faster than `.iterate()` here, and keeps memory flat. */
const pageSize = 2000;

// SQLite assembles each entry's canonical encoding (audit-chain.ts `entryEncoding`) in C: measured
// about 25% faster than concatenating in JS, and concat() (one allocation; no argument is NULL)
// a few per cent faster than a chain of ||. json_quote escapes exactly as JSON.stringify does for
// well-formed text, which the tests pin down; prev_hash is the stored column, and it is compared
// with the previous entry's hash before the encoding is trusted.
const pageSql = `SELECT seq,
    concat('{"actor":', json_quote(actor), ',"body":', body, ',"event":', json_quote(event),
      ',"prev_hash":', json_quote(prev_hash), ',"seq":', seq, ',"ts":', ts, '}'),
    prev_hash, hash
  FROM audit WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ${pageSize}`;

const nextSql = "SELECT seq FROM audit WHERE seq > ? ORDER BY seq LIMIT 1";

/**
 * Checks entries `from`..`to` in seq order, stopping at the first bad one: the seq follows on, each
 * entry's prev_hash is the hash computed for the entry before (the first entry's prev_hash is only
 * reported, for the caller to compare with the range before), the computed hash is the stored one,
 * and every anchor at a checked seq matches. The range ends early, without a failure, where the
 * chain ends. Run it inside a read transaction so every page comes from one snapshot.
 * @param {Db} db
 * @param {number} from
 * @param {number} to
 * @param {readonly RangeAnchor[]} anchors those in the range, in seq order
 * @returns {RangeResult}
 */
export function checkRange(db, from, to, anchors) {
  const page = db.prepare(pageSql).raw();
  // From the very start for the first range, so entries stored below seq 1 show as a gap at seq 1.
  let cursor = from === 1 ? Number.MIN_SAFE_INTEGER : from - 1;
  let expected = from;
  let next = 0;
  /** @type {string | null} */
  let firstPrevHash = null;
  /** @type {string | null} */
  let prev = null;
  /** @param {VerifyFailure | null} failure @returns {RangeResult} */
  const result = (failure) => ({ firstPrevHash, count: expected - from, lastHash: prev, failure });
  for (let rows = /** @type {Row[]} */ (page.all(cursor, to)); rows.length > 0; rows = /** @type {Row[]} */ (page.all(cursor, to))) {
    for (const row of rows) {
      const seq = row[0];
      if (seq !== expected) return result(failure("seq_gap", expected, `entry is missing (the next entry has seq ${seq})`));
      if (prev === null) firstPrevHash = row[2];
      else if (row[2] !== prev) return result(brokenLink(seq, row[2], prev));
      const computed = hash("sha256", row[1]);
      if (computed !== row[3]) return result(failure("content_hash_mismatch", seq, `content hash mismatch (stored ${row[3]}, computed ${computed})`));
      while (next < anchors.length) {
        const anchor = /** @type {RangeAnchor} */ (anchors[next]);
        if (anchor.seq !== seq) break;
        if (anchor.hash !== computed) return result(failure("anchor_mismatch", seq, `anchor hash mismatch (anchor ${anchor.hash}, chain ${computed})`));
        next++;
      }
      prev = computed;
      expected = seq + 1;
    }
    cursor = expected - 1;
  }
  if (expected <= to) {
    // Entries are missing at the end of the range: a gap if any entry follows, else the chain's end.
    const following = /** @type {number | undefined} */ (db.prepare(nextSql).pluck().get(cursor));
    if (following !== undefined) return result(failure("seq_gap", expected, `entry is missing (the next entry has seq ${following})`));
  }
  return result(null);
}

/**
 * Every entry before `seq` was verified, so that count comes from the seq itself.
 * @param {VerifyFailureReason} reason
 * @param {number} seq
 * @param {string} message
 * @returns {VerifyFailure}
 */
export function failure(reason, seq, message) {
  return { ok: false, seq, reason, message: `seq ${seq}: ${message}`, verified: seq - 1 };
}

/**
 * @param {number} seq
 * @param {string} stored the entry's prev_hash
 * @param {string} expected the hash computed for the entry before it
 * @returns {VerifyFailure}
 */
export function brokenLink(seq, stored, expected) {
  return failure("broken_prev_link", seq, `prev_hash ${stored} does not match the previous entry's hash ${expected}`);
}

// Verifies a long chain on several cores. The seq range up to the head read at the start is cut into
// contiguous ranges, a few per worker thread; each worker takes the next range as soon as it is done
// with one, so a core slowed by other work checks fewer, and checks each over a read-only connection
// of its own (verify-worker.js). verify-chain.ts then joins the ranges in seq order. Short chains,
// and databases a worker cannot open (in memory), are verified inline.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Db } from "./database.ts";
import { type Anchor, type VerifyResult, inSeqOrder, joinRanges, verifyChain } from "./verify-chain.ts";
import type { RangeResult } from "./verify-range.js";

export interface ParallelOptions {
  /** Chains shorter than this are verified inline (default 80,000 entries): below it, starting the
   * workers (50–70 ms each, then their code runs cold) cost what the second core saved, measured
   * one run per process on the 2-core VM. */
  minEntries?: number;
  /** Entries per range (default 5,000: 15–25 ms of work on the 2-core VM, so the workers finish
   * close together; the last range may be shorter). */
  rangeEntries?: number;
  /** How many workers at most (default: the available cores, at most 4). */
  workers?: number;
}

/** Entries `from`..`to`, both included. */
export interface SeqRange {
  from: number;
  to: number;
}

export const defaultMinEntries = 80_000;
const defaultRangeEntries = 5_000;
const maxDefaultWorkers = 4;
const workerUrl = new URL("./verify-worker.js", import.meta.url);

export async function verifyChainInParallel(db: Db, anchors: readonly Anchor[] = [], options: ParallelOptions = {}): Promise<VerifyResult> {
  const head = db.memory ? 0 : ((db.prepare("SELECT max(seq) FROM audit").pluck().get() as number | null) ?? 0);
  const ranges = planRanges(head, options.rangeEntries ?? defaultRangeEntries);
  const workers = Math.min(options.workers ?? Math.min(availableParallelism(), maxDefaultWorkers), ranges.length);
  if (head < (options.minEntries ?? defaultMinEntries) || workers < 2) return verifyChain(db, anchors);
  const sorted = inSeqOrder(anchors);
  return joinRanges(await inWorkers(db.name, ranges, sorted, workers), sorted);
}

/** 1..head in contiguous ranges of `length` entries. */
export function planRanges(head: number, length: number): SeqRange[] {
  return Array.from({ length: Math.ceil(head / length) }, (_, i) => ({ from: i * length + 1, to: Math.min((i + 1) * length, head) }));
}

/** Checks the ranges on `count` workers (at most one per range) and returns their results in seq
 * order, up to the first range that failed: no range after it is started, since the first failure
 * in seq order is the one reported. */
async function inWorkers(path: string, ranges: readonly SeqRange[], anchors: readonly Anchor[], count: number): Promise<RangeResult[]> {
  const results: RangeResult[] = [];
  let next = 0;
  let end = ranges.length;
  // execArgv [] keeps the workers from inheriting tsx's loader flags: the worker is plain JavaScript.
  const lanes = Array.from({ length: count }, () => ({ worker: new Worker(workerUrl, { workerData: path, execArgv: [] }), sent: [] as number[] }));
  const give = (lane: (typeof lanes)[number]) => {
    if (next >= end) return;
    const i = next++;
    const { from, to } = ranges[i]!;
    lane.sent.push(i);
    lane.worker.postMessage({ from, to, anchors: anchors.filter((a) => a.seq >= from && a.seq <= to) });
  };
  const done = lanes.map(
    (lane) =>
      new Promise<void>((resolve, reject) => {
        lane.worker.on("message", (result: RangeResult) => {
          const i = lane.sent.shift()!;
          results[i] = result;
          if (result.failure) end = Math.min(end, i + 1);
          give(lane);
          if (lane.sent.length > 0) return;
          lane.worker.postMessage(null);
          resolve();
        });
        lane.worker.once("error", reject);
        lane.worker.once("exit", (code) => reject(new Error(`audit verification worker exited (code ${code}) before it was done`)));
      }),
  );
  // Each worker holds the range it checks and the next one, so it never waits for the main thread;
  // dealt in turn, so every worker has a range before any has two.
  for (let round = 0; round < 2; round++) lanes.forEach(give);
  try {
    await Promise.all(done);
  } catch (err) {
    for (const { worker } of lanes) void worker.terminate();
    throw err;
  }
  return results.slice(0, end);
}

// @ts-check
// A worker thread of verify-parallel.ts: checks the seq ranges it is sent, one message each, over a
// read-only connection of its own, and answers each with its RangeResult; a null message ends it.
// Plain JavaScript, started without a TypeScript loader, so a worker costs tens of milliseconds
// rather than hundreds (see verify-range.js).
import Database from "better-sqlite3";
import { parentPort, workerData } from "node:worker_threads";
import { checkRange } from "./verify-range.js";

/** @typedef {{ from: number, to: number, anchors: import("./verify-range.js").RangeAnchor[] }} RangeJob */

const path = /** @type {string} */ (workerData);
const port = /** @type {import("node:worker_threads").MessagePort} */ (parentPort);
const db = open(path);
port.on("message", (/** @type {RangeJob | null} */ job) => {
  if (job === null) {
    db.close();
    port.close();
    return;
  }
  try {
    // One read transaction per range, so the range comes from one snapshot of the file.
    port.postMessage(db.transaction(() => checkRange(db, job.from, job.to, job.anchors))());
  } catch (err) {
    throw plain(err, `verifying seq ${job.from}..${job.to} of ${path}`);
  }
});

/** @param {string} path */
function open(path) {
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true, timeout: 5000 });
    // Pages read through a memory map rather than a read() call each: measured ~4% more entries/s
    // with two workers. The connection is read-only, so nothing is ever written through the map.
    db.pragma("mmap_size = 1073741824");
    return db;
  } catch (err) {
    throw plain(err, `opening ${path}`);
  }
}

/** better-sqlite3's SqliteError reaches the main thread without its message; a plain Error keeps it.
 * @param {unknown} err @param {string} doing */
function plain(err, doing) {
  return new Error(`${doing}: ${/** @type {Error} */ (err).message}`);
}

// Follows a growing file (a pane's pipe-pane log, a command's output file) from a byte offset:
// inotify wakes it, a slow poll backs that up, and each wake-up reads to the current end of the file,
// or to a limit once one is set. A reader that cannot keep up pauses it.
import { closeSync, fstatSync, readSync, watch, type FSWatcher } from "node:fs";
import { openRegularFile } from "./regular-file.ts";

const chunkBytes = 1 << 20;
/** Bytes read per turn of the event loop, so a flood of output cannot starve the HTTP server. */
const turnBytes = 16 << 20;
/** A wake-up that found this much is bulk output: the next read waits `coalesceMs` to take a larger bite. */
const bulkBytes = 16 << 10;
const coalesceMs = 3;

export class LogFollower {
  private fd: number;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private streaming = false;
  private stopped = false;
  private paused = false;
  private limit = Infinity;
  private atLimit: (() => void) | null = null;
  private readonly buf = Buffer.allocUnsafe(chunkBytes);

  /** Refuses symlinks and anything but a regular file: the sandbox can write where command output lives. */
  constructor(
    path: string,
    private position: number,
    private readonly onData: (bytes: Buffer) => void,
    pollMs: number,
  ) {
    const fd = openRegularFile(path);
    if (fd === null) throw new Error(`${path} is missing or not a regular file`);
    this.fd = fd;
    this.watcher = watch(path, () => this.schedule());
    this.watcher.on("error", () => {});
    this.timer = setInterval(() => this.schedule(), pollMs);
    this.schedule();
  }

  /** Bytes delivered so far (the file offset reached). */
  get offset(): number {
    return this.position;
  }

  /** The file's current size. */
  size(): number {
    return fstatSync(this.fd).size;
  }

  /** Reads no further than `end`; calls `reached` once everything before it was delivered. */
  stopAt(end: number, reached: () => void): void {
    this.limit = end;
    this.atLimit = reached;
    this.schedule();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  /** Reads what was written so far, now (up to one turn's worth, then the rest on the next turn). */
  drain(): void {
    let budget = turnBytes;
    while (!this.stopped && !this.paused && budget > 0) {
      const n = this.readOnce();
      if (n === 0) {
        this.streaming = turnBytes - budget >= bulkBytes;
        if (this.position >= this.limit) this.reachLimit();
        return;
      }
      budget -= n;
    }
    if (!this.stopped && !this.paused) this.schedule();
  }

  /** Reads everything up to the limit, or up to the file's current end, at once, paused or not. */
  drainAll(): void {
    if (this.stopped) return;
    // a writer that carries on must not keep this loop going
    this.limit = Math.min(this.limit, this.size());
    while (!this.stopped && this.readOnce() > 0);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    closeSync(this.fd);
  }

  private readOnce(): number {
    const want = Math.min(chunkBytes, this.limit - this.position);
    if (want <= 0) return 0;
    const n = readSync(this.fd, this.buf, 0, want, this.position);
    if (n === 0) return 0;
    this.position += n;
    this.onData(Buffer.from(this.buf.subarray(0, n)));
    return n;
  }

  private reachLimit(): void {
    const reached = this.atLimit;
    this.atLimit = null;
    reached?.();
  }

  private schedule(): void {
    if (this.scheduled || this.stopped || this.paused) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      this.drain();
    };
    // bulk output: fewer, larger reads mean fewer frames and writes; a lone marker line is read at once
    if (this.streaming) setTimeout(go, coalesceMs);
    else setImmediate(go);
  }
}

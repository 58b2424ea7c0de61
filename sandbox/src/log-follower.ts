// Follows a growing file (a pane's pipe-pane log) from a byte offset: inotify wakes it, a slow
// poll backs that up, and each wake-up reads to the current end of the file.
import { closeSync, openSync, readSync, watch, type FSWatcher } from "node:fs";

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
  private readonly buf = Buffer.allocUnsafe(chunkBytes);

  constructor(
    path: string,
    private position: number,
    private readonly onData: (bytes: Buffer) => void,
    pollMs: number,
  ) {
    this.fd = openSync(path, "r");
    this.watcher = watch(path, () => this.schedule());
    this.watcher.on("error", () => {});
    this.timer = setInterval(() => this.schedule(), pollMs);
    this.schedule();
  }

  /** Reads everything written so far, now. */
  drain(): void {
    let budget = turnBytes;
    while (!this.stopped && budget > 0) {
      const n = readSync(this.fd, this.buf, 0, chunkBytes, this.position);
      if (n === 0) {
        this.streaming = turnBytes - budget >= bulkBytes;
        return;
      }
      this.position += n;
      budget -= n;
      this.onData(Buffer.from(this.buf.subarray(0, n)));
    }
    if (!this.stopped) this.schedule();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    closeSync(this.fd);
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
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

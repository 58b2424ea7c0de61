// The copy of a command's output that people attached to its tmux session watch. The output itself
// goes to a file (shell-init.ts); this writes it to the pane's terminal without ever waiting for
// it: when the terminal is full, bytes are dropped, and a short line later says how much was not shown
// and where the whole log is, after which the copy resumes.
import { closeSync, constants, openSync, writeSync } from "node:fs";

const rsByte = 0x1e;
/** How long after the terminal filled up the copy tries again (and at the end, how long it keeps trying). */
const retryMs = 500;
const closeTries = 4;

function withoutRs(bytes: Buffer): Buffer {
  if (bytes.indexOf(rsByte) < 0) return bytes;
  // the pane log's markers are delimited by RS: the copy must never carry one
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (const b of bytes) if (b !== rsByte) out[n++] = b;
  return out.subarray(0, n);
}

function formatBytes(n: number): string {
  if (n < 1000) return `${n} bytes`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

export class PaneDisplay {
  private dropped = 0;
  private endsLine = true;
  private timer: NodeJS.Timeout | null = null;
  private closing = false;
  private pendingNotice: Buffer | null = null;

  private constructor(
    private fd: number | null,
    private readonly logPath: string,
  ) {}

  /** Opens the pane's terminal for writing; without one (it is gone) the copy is skipped. */
  static open(tty: string, logPath: string): PaneDisplay {
    let fd: number | null = null;
    try {
      fd = openSync(tty, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch {
      // the pane died or was respawned: nobody can watch this copy
    }
    return new PaneDisplay(fd, logPath);
  }

  write(bytes: Buffer): void {
    if (this.fd === null || this.closing || bytes.length === 0) return;
    if (this.dropped > 0) {
      this.dropped += bytes.length;
      return;
    }
    const clean = withoutRs(bytes);
    const n = this.put(clean);
    if (n < clean.length) this.startDropping(clean.length - n);
  }

  /**
   * The command ended (`endLine`: end its last line, the prompt comes next) or the runner stops:
   * report what was not shown (trying for a little while), then let go of the terminal.
   */
  close(endLine = true): void {
    if (this.closing) return;
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (endLine && this.dropped === 0 && !this.endsLine) this.put(Buffer.from("\n"));
    let tries = 0;
    const attempt = () => {
      if (this.dropped === 0 || this.notice() || ++tries >= closeTries) return this.release();
      this.timer = setTimeout(attempt, retryMs);
    };
    attempt();
  }

  private startDropping(bytes: number): void {
    this.dropped = bytes;
    const retry = () => {
      this.timer = null;
      if (this.closing || this.dropped === 0) return;
      if (!this.notice()) this.timer = setTimeout(retry, retryMs);
    };
    this.timer = setTimeout(retry, retryMs);
  }

  /** Writes the "not shown" line (the rest of it, if the terminal took only part last time); true when done. */
  private notice(): boolean {
    const line = this.pendingNotice ?? Buffer.from(`${this.endsLine ? "" : "\n"}[pocketcoder: ${formatBytes(this.dropped)} not shown here; full log: ${this.logPath}]\n`, "utf8");
    const n = this.put(line);
    this.pendingNotice = n < line.length ? line.subarray(n) : null;
    if (this.pendingNotice) return false;
    this.dropped = 0;
    return true;
  }

  /** Writes what the terminal takes now; returns how many bytes that was. */
  private put(bytes: Buffer): number {
    if (this.fd === null) return 0;
    let done = 0;
    while (done < bytes.length) {
      let n = 0;
      try {
        n = writeSync(this.fd, bytes, done, bytes.length - done);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN") this.release();
      }
      if (n <= 0) break;
      done += n;
    }
    if (done > 0) this.endsLine = bytes[done - 1] === 0x0a;
    return done;
  }

  private release(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

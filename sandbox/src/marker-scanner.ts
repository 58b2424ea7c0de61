// Finds one command's output in the pane's byte stream: the bytes between its BEGIN marker line and
// the newline the prompt hook prints before its END marker. Works on arbitrary chunking, holding back
// only what could be the start of the END marker.
import { beginMarker, endMarkerPrefix, RS } from "./shell-init.ts";

export interface ScanSink {
  begin(): void;
  output(bytes: Buffer): void;
  /** `shellExited`: the command ended the shell (its EXIT trap printed the marker). */
  end(exitCode: number, cwd: string | null, shellExited: boolean): void;
}

const rsByte = RS.charCodeAt(0);
const maxMarkerTail = 16_384;

export class MarkerScanner {
  private state: "seeking" | "output" | "done" = "seeking";
  private carry: Buffer = Buffer.alloc(0);
  private readonly begin: Buffer;
  private readonly end: Buffer;
  private readonly endPatterns: Buffer[];

  constructor(id: string, private readonly sink: ScanSink) {
    this.begin = Buffer.from(beginMarker(id), "latin1");
    this.end = Buffer.from(endMarkerPrefix(id), "latin1");
    this.endPatterns = [Buffer.concat([Buffer.from("\r\n"), this.end]), Buffer.concat([Buffer.from("\n"), this.end])];
  }

  push(chunk: Buffer): void {
    if (this.state === "done" || chunk.length === 0) return;
    let data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = Buffer.alloc(0);
    if (this.state === "seeking") {
      const rest = this.seekBegin(data);
      if (rest === null) return;
      data = rest;
    }
    this.scanOutput(data);
  }

  /** The stream ended without an END marker (the shell died): whatever was held back is output. */
  flush(): void {
    if (this.state === "output" && this.carry.length > 0) this.sink.output(this.carry);
    this.carry = Buffer.alloc(0);
  }

  private seekBegin(data: Buffer): Buffer | null {
    const idx = data.indexOf(this.begin);
    if (idx < 0) {
      this.carry = Buffer.from(data.subarray(Math.max(0, data.length - this.begin.length)));
      return null;
    }
    let after = idx + this.begin.length;
    // wait until the line ending after the marker has fully arrived
    if (after >= data.length || (data[after] === 0x0d && after + 1 >= data.length)) {
      this.carry = Buffer.from(data.subarray(idx));
      return null;
    }
    if (data[after] === 0x0d && data[after + 1] === 0x0a) after += 2;
    else if (data[after] === 0x0a) after += 1;
    this.state = "output";
    this.sink.begin();
    return data.subarray(after);
  }

  private scanOutput(data: Buffer): void {
    let from = 0;
    for (;;) {
      const idx = data.indexOf(this.end, from);
      if (idx < 0) break;
      const close = data.indexOf(rsByte, idx + this.end.length);
      if (close < 0) {
        if (data.length - idx > maxMarkerTail) {
          from = idx + 1;
          continue;
        }
        const cut = lineStart(data, idx);
        if (cut > 0) this.sink.output(data.subarray(0, cut));
        this.carry = Buffer.from(data.subarray(cut));
        return;
      }
      const m = /^(\d{1,3}) ([A-Za-z0-9+/=]*)( x)?$/.exec(data.subarray(idx + this.end.length, close).toString("latin1"));
      if (!m) {
        from = idx + 1;
        continue;
      }
      const cut = lineStart(data, idx);
      if (cut > 0) this.sink.output(data.subarray(0, cut));
      this.state = "done";
      this.sink.end(Number(m[1]), m[2] ? Buffer.from(m[2], "base64").toString("utf8") : null, m[3] !== undefined);
      return;
    }
    const hold = this.holdback(data);
    if (data.length - hold > 0) this.sink.output(data.subarray(0, data.length - hold));
    if (hold > 0) this.carry = Buffer.from(data.subarray(data.length - hold));
  }

  /** Length of the longest suffix of `data` that could begin the END marker. */
  private holdback(data: Buffer): number {
    let best = 0;
    for (const p of this.endPatterns) {
      for (let k = Math.min(p.length - 1, data.length); k > best; k--) {
        if (data.compare(p, 0, k, data.length - k, data.length) === 0) {
          best = k;
          break;
        }
      }
    }
    return best;
  }
}

/** Where the END marker's own line break starts: it printed `\n` (a terminal shows `\r\n`) before the marker. */
function lineStart(data: Buffer, idx: number): number {
  if (idx >= 2 && data[idx - 2] === 0x0d && data[idx - 1] === 0x0a) return idx - 2;
  if (idx >= 1 && data[idx - 1] === 0x0a) return idx - 1;
  return idx;
}

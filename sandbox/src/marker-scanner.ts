// Finds one command's markers in the pane's byte stream: BEGIN (the shell read the trigger and runs
// the command) and END with the exit status and cwd. Works on arbitrary chunking. The command's output
// is not in this stream but in its own file; between the markers the pane only carries the display copy.
import { beginMarker, endMarkerPrefix, RS } from "./shell-init.ts";

export interface ScanSink {
  begin(): void;
  /** `shellExited`: the command ended the shell (its EXIT trap printed the marker). */
  end(exitCode: number, cwd: string | null, shellExited: boolean): void;
}

const rsByte = RS.charCodeAt(0);
/** An END marker whose closing RS has not come within this many bytes is not one. */
const maxMarkerTail = 16_384;

export class MarkerScanner {
  private state: "seeking" | "running" | "done" = "seeking";
  private carry: Buffer = Buffer.alloc(0);
  private readonly begin: Buffer;
  private readonly end: Buffer;

  constructor(id: string, private readonly sink: ScanSink) {
    this.begin = Buffer.from(beginMarker(id), "latin1");
    this.end = Buffer.from(endMarkerPrefix(id), "latin1");
  }

  push(chunk: Buffer): void {
    if (this.state === "done" || chunk.length === 0) return;
    let data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = Buffer.alloc(0);
    if (this.state === "seeking") {
      const idx = data.indexOf(this.begin);
      if (idx < 0) {
        this.carry = Buffer.from(data.subarray(Math.max(0, data.length - this.begin.length + 1)));
        return;
      }
      this.state = "running";
      this.sink.begin();
      data = data.subarray(idx + this.begin.length);
    }
    this.seekEnd(data);
  }

  private seekEnd(data: Buffer): void {
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
        this.carry = Buffer.from(data.subarray(idx));
        return;
      }
      const m = /^(\d{1,3}) ([A-Za-z0-9+/=]*)( x)?$/.exec(data.subarray(idx + this.end.length, close).toString("latin1"));
      if (!m) {
        from = idx + 1;
        continue;
      }
      this.state = "done";
      this.sink.end(Number(m[1]), m[2] ? Buffer.from(m[2], "base64").toString("utf8") : null, m[3] !== undefined);
      return;
    }
    this.carry = Buffer.from(data.subarray(Math.max(from, data.length - this.end.length + 1)));
  }
}

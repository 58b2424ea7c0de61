// Output bytes → text for people and models: CRLF becomes LF, escape sequences (CSI, OSC, DCS …)
// and other control bytes except tab, backspace, LF and CR are dropped (commands that print colours
// or progress bars deliberately still do so into a file). A state machine over bytes, so the result
// does not depend on how the stream was cut into chunks; a chunk with nothing to change is returned
// as it is, which is the common case and keeps large outputs cheap.

const ESC = 0x1b;
const BEL = 0x07;
const CR = 0x0d;
const LF = 0x0a;
/** A string sequence (OSC, DCS, …) longer than this is abandoned, so a missing terminator cannot swallow the rest. */
const maxStringBytes = 4096;

type State = "ground" | "cr" | "esc" | "escIntermediate" | "csi" | "string" | "stringEsc";

function keptControl(b: number): boolean {
  return b === 0x08 || b === 0x09 || b === LF || b === CR;
}

/** 1 for the bytes the ground state does not pass through unchanged. */
const special = new Uint8Array(256);
for (let b = 0; b < 0x20; b++) special[b] = keptControl(b) && b !== CR ? 0 : 1;
special[0x7f] = 1;

/** Index of the first byte the ground state does not pass through unchanged, or -1. Four at a time: this runs over every byte of output. */
function firstSpecial(chunk: Uint8Array): number {
  const n = chunk.length;
  let i = 0;
  while (i + 4 <= n && (special[chunk[i]!]! | special[chunk[i + 1]!]! | special[chunk[i + 2]!]! | special[chunk[i + 3]!]!) === 0) i += 4;
  for (; i < n; i++) if (special[chunk[i]!] !== 0) return i;
  return -1;
}

export class TerminalText {
  private state: State = "ground";
  private stringBytes = 0;

  /** The text for `chunk`: a new buffer, or `chunk` itself when nothing in it changes. */
  push(chunk: Uint8Array): Buffer {
    const plain = this.state === "ground" ? firstSpecial(chunk) : 0;
    if (plain < 0) return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const out = Buffer.allocUnsafe(chunk.length + 1);
    out.set(chunk.subarray(0, plain));
    let n = plain;
    for (let i = plain; i < chunk.length; i++) {
      const b = chunk[i]!;
      switch (this.state) {
        case "ground":
          if (b >= 0x20 && b !== 0x7f) out[n++] = b;
          else if (b === CR) this.state = "cr";
          else if (b === ESC) this.state = "esc";
          else if (keptControl(b)) out[n++] = b;
          break;
        case "cr":
          if (b === LF) {
            out[n++] = LF;
            this.state = "ground";
          } else {
            out[n++] = CR;
            this.state = "ground";
            i--;
          }
          break;
        case "esc":
          if (b === 0x5b) this.state = "csi";
          else if (b === 0x5d || b === 0x50 || b === 0x58 || b === 0x5e || b === 0x5f) this.enterString();
          else if (b >= 0x20 && b <= 0x2f) this.state = "escIntermediate";
          else this.state = "ground"; // a two-byte sequence such as ESC 7 or ESC =
          break;
        case "escIntermediate":
          if (b < 0x20 || b > 0x2f) this.state = "ground";
          break;
        case "csi":
          if (b >= 0x40 && b <= 0x7e) this.state = "ground";
          else if (b < 0x20 || b > 0x7e) {
            // not a well-formed CSI: drop the sequence, keep the byte
            this.state = "ground";
            i--;
          }
          break;
        case "string":
          if (b === BEL) this.state = "ground";
          else if (b === ESC) this.state = "stringEsc";
          else if (++this.stringBytes > maxStringBytes) this.state = "ground";
          break;
        case "stringEsc":
          this.state = b === 0x5c ? "ground" : "string";
          break;
      }
    }
    return out.subarray(0, n);
  }

  /** The bytes still held back at the end of the stream (a lone trailing CR). */
  end(): Buffer {
    const tail = this.state === "cr" ? Buffer.from([CR]) : Buffer.alloc(0);
    this.state = "ground";
    return tail;
  }

  private enterString(): void {
    this.state = "string";
    this.stringBytes = 0;
  }
}

/** The whole-buffer form, for text that is already complete. */
export function terminalText(bytes: Uint8Array): string {
  const t = new TerminalText();
  return Buffer.concat([t.push(bytes), t.end()]).toString("utf8");
}

// The exec stream's framing: [type: 1 byte][length: uint32 BE][payload]. See protocol.ts frameTypes.

/** One buffer per frame, so each frame is one write to the socket. */
export function encodeFrame(type: number, payload: Buffer | string): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  const frame = Buffer.allocUnsafe(5 + body.length);
  frame[0] = type;
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  return frame;
}

export interface Frame {
  type: number;
  payload: Buffer;
}

/** Splits a byte stream into frames, whatever the chunking. */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.pending = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: Frame[] = [];
    while (this.pending.length >= 5) {
      const len = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + len) break;
      frames.push({ type: this.pending[0]!, payload: Buffer.from(this.pending.subarray(5, 5 + len)) });
      this.pending = this.pending.subarray(5 + len);
    }
    return frames;
  }
}

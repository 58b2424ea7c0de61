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

/** Splits a byte stream into frames, whatever the chunking. Chunks are joined once per frame, not once per chunk: frames are up to 1 MB. */
export class FrameDecoder {
  private parts: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer): Frame[] {
    this.parts.push(chunk);
    this.size += chunk.length;
    const frames: Frame[] = [];
    while (this.size >= 5) {
      if (this.parts[0]!.length < 5) this.parts = [Buffer.concat(this.parts)];
      const total = 5 + this.parts[0]!.readUInt32BE(1);
      if (this.size < total) break;
      const buf = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
      frames.push({ type: buf[0]!, payload: buf.subarray(5, total) });
      const rest = buf.subarray(total);
      this.parts = rest.length > 0 ? [rest] : [];
      this.size = rest.length;
    }
    return frames;
  }
}

// Keeps the first and the last bytes of a stream of unknown length, so a long output can be
// shown as head + tail without holding all of it in memory.

/** Shortens `buf` at its end so it does not stop inside a UTF-8 sequence. */
function cutEnd(buf: Buffer): Buffer {
  let i = buf.length;
  let back = 0;
  while (i > 0 && back < 4 && (buf[i - 1]! & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i === 0) return buf;
  const lead = buf[i - 1]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return need > back + 1 ? buf.subarray(0, i - 1) : buf;
}

/** Shortens `buf` at its start so it begins on a character boundary. */
function cutStart(buf: Buffer): Buffer {
  let i = 0;
  while (i < buf.length && i < 4 && (buf[i]! & 0xc0) === 0x80) i++;
  return buf.subarray(i);
}

export interface HeadTailText {
  truncated: boolean;
  head: string;
  tail: string;
  omittedBytes: number;
}

export class HeadTail {
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;

  /** `limit` bounds head + tail together; each gets about half. */
  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.total += chunk.length;
    const keep = this.limit - Math.floor(this.limit / 2);
    let rest = chunk;
    if (this.headBytes < this.limit) {
      // until the limit is reached everything may still be shown whole, so keep up to `limit` in head
      const take = Math.min(rest.length, this.limit - this.headBytes);
      this.head.push(Buffer.from(rest.subarray(0, take)));
      this.headBytes += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0) return;
    this.tail.push(Buffer.from(rest.subarray(Math.max(0, rest.length - keep))));
    this.tailBytes += Math.min(rest.length, keep);
    while (this.tail.length > 1 && this.tailBytes - this.tail[0]!.length >= keep) {
      this.tailBytes -= this.tail.shift()!.length;
    }
  }

  get bytes(): number {
    return this.total;
  }

  text(): HeadTailText {
    const head = Buffer.concat(this.head);
    if (this.total <= this.limit) return { truncated: false, head: head.toString("utf8"), tail: "", omittedBytes: 0 };
    const half = Math.floor(this.limit / 2);
    // head beyond `half` and the kept tail are contiguous: the tail is trimmed only while it holds more than it needs
    const all = Buffer.concat([head.subarray(half), ...this.tail]);
    const tailRaw = all.subarray(Math.max(0, all.length - (this.limit - half)));
    const headText = cutEnd(head.subarray(0, half));
    const tailText = cutStart(tailRaw);
    return {
      truncated: true,
      head: headText.toString("utf8"),
      tail: tailText.toString("utf8"),
      omittedBytes: this.total - headText.length - tailText.length,
    };
  }
}

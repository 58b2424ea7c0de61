// Paces edits of one streamed message: at most one edit per interval (Matrix clients and homeservers
// throttle busy senders), intermediate versions coalesced into the latest, edits delivered in order,
// and the final version always sent in full. Clock and timers are injected so tests control time.
export type PacerClock = {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
};

export const systemClock: PacerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export type EditPacerOptions = {
  intervalMs?: number;
  clock?: PacerClock;
  /** A failed send is reported here; the next version is still attempted. */
  onError?: (error: unknown) => void;
};

export class EditPacer {
  private readonly intervalMs: number;
  private readonly clock: PacerClock;
  private lastSentAt = Number.NEGATIVE_INFINITY;
  private lastSent: string | undefined;
  private pending: string | undefined;
  private inFlight: Promise<void> | undefined;
  private timer: unknown;
  private finished = false;

  constructor(
    private readonly send: (text: string) => Promise<void>,
    private readonly opts: EditPacerOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 1_000;
    this.clock = opts.clock ?? systemClock;
  }

  /** The message's latest full text; sent now or coalesced into the next paced edit. */
  update(text: string): void {
    if (this.finished) return;
    this.pending = text;
    this.pump();
  }

  /** Sends `text` as soon as any edit in flight is done, regardless of the interval; resolves once delivered. */
  async finish(text: string): Promise<void> {
    this.finished = true;
    this.pending = undefined;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inFlight) await this.inFlight;
    if (text !== this.lastSent) await this.deliver(text);
  }

  private pump(): void {
    if (this.inFlight || this.timer !== undefined || this.pending === undefined) return;
    if (this.pending === this.lastSent) {
      this.pending = undefined;
      return;
    }
    const wait = this.lastSentAt + this.intervalMs - this.clock.now();
    if (wait > 0) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, wait);
      return;
    }
    const text = this.pending;
    this.pending = undefined;
    void this.deliver(text).then(() => {
      if (!this.finished) this.pump();
    });
  }

  private deliver(text: string): Promise<void> {
    this.lastSentAt = this.clock.now();
    this.lastSent = text;
    const flight = this.send(text)
      .catch((error: unknown) => this.opts.onError?.(error))
      .finally(() => {
        if (this.inFlight === flight) this.inFlight = undefined;
      });
    this.inFlight = flight;
    return flight;
  }
}

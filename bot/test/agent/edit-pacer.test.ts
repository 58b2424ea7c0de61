import { describe, expect, it } from "vitest";
import { EditPacer, type PacerClock } from "../../src/agent/edit-pacer.ts";

// A clock the test moves by hand; timers fire only when time is advanced past them.
class FakeClock implements PacerClock {
  t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private next = 0;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = ++this.next;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (id: unknown) => {
    this.timers = this.timers.filter((t) => t.id !== id);
  };
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.t = due.at;
      due.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

const settle = () => new Promise<void>((r) => setImmediate(r));

function setup(sendImpl?: (text: string) => Promise<void>) {
  const clock = new FakeClock();
  const sent: { at: number; text: string }[] = [];
  const pacer = new EditPacer(
    async (text) => {
      sent.push({ at: clock.t, text });
      await sendImpl?.(text);
    },
    { intervalMs: 1000, clock },
  );
  return { clock, sent, pacer };
}

describe("edit pacer", () => {
  it("sends the first version at once and coalesces the rest into one edit per interval", async () => {
    const { clock, sent, pacer } = setup();
    pacer.update("a");
    await settle();
    pacer.update("ab");
    pacer.update("abc");
    await clock.advance(500);
    pacer.update("abcd");
    await clock.advance(499);
    expect(sent).toEqual([{ at: 0, text: "a" }]);
    await clock.advance(1);
    expect(sent).toEqual([{ at: 0, text: "a" }, { at: 1000, text: "abcd" }]);
    await clock.advance(5000);
    expect(sent).toHaveLength(2); // nothing new, nothing sent
  });

  it("never sends two edits less than the interval apart", async () => {
    const { clock, sent, pacer } = setup();
    for (let i = 1; i <= 50; i++) {
      pacer.update("x".repeat(i));
      await clock.advance(130);
    }
    await clock.advance(2000);
    for (let i = 1; i < sent.length; i++) expect(sent[i]!.at - sent[i - 1]!.at).toBeGreaterThanOrEqual(1000);
    expect(sent.at(-1)!.text).toBe("x".repeat(50));
  });

  it("sends the final text in full right away, after the edit in flight, and ignores later updates", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { clock, sent, pacer } = setup((text) => (text === "first" ? gate : Promise.resolve()));
    pacer.update("first");
    await settle();
    pacer.update("second");
    const finished = pacer.finish("final complete text");
    await settle();
    expect(sent.map((s) => s.text)).toEqual(["first"]); // in order: waits for the edit in flight
    release();
    await finished;
    expect(sent.map((s) => s.text)).toEqual(["first", "final complete text"]);
    expect(sent[1]!.at).toBe(0); // not held back by the interval
    pacer.update("late");
    await clock.advance(3000);
    expect(sent).toHaveLength(2);
  });

  it("does not repeat a final text that was already sent", async () => {
    const { sent, pacer } = setup();
    pacer.update("done");
    await settle();
    await pacer.finish("done");
    expect(sent.map((s) => s.text)).toEqual(["done"]);
  });

  it("reports a failed edit and carries on with the next version", async () => {
    const clock = new FakeClock();
    const errors: unknown[] = [];
    const sent: string[] = [];
    const pacer = new EditPacer(
      async (text) => {
        sent.push(text);
        if (text === "bad") throw new Error("M_LIMIT_EXCEEDED");
      },
      { intervalMs: 1000, clock, onError: (e) => errors.push(e) },
    );
    pacer.update("bad");
    await settle();
    pacer.update("good");
    await clock.advance(1000);
    expect(sent).toEqual(["bad", "good"]);
    expect(errors.map((e) => (e as Error).message)).toEqual(["M_LIMIT_EXCEEDED"]);
  });
});

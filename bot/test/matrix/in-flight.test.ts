import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.ts";
import { createInFlight } from "../../src/matrix/in-flight.ts";

const quiet = () => {
  const lines: string[] = [];
  return { log: createLogger("test", (l) => lines.push(l)), lines };
};

describe("in-flight handlers", () => {
  it("drains running work, then refuses new work", async () => {
    const { log } = quiet();
    const inFlight = createInFlight(log);
    let finished = false;
    inFlight.run("slow", () => new Promise((r) => setTimeout(() => ((finished = true), r()), 30)));
    expect(await inFlight.drain(5000)).toBe(true);
    expect(finished).toBe(true);
    expect(inFlight.run("late", async () => {})).toBe(false);
  });

  it("gives up at the deadline", async () => {
    const { log } = quiet();
    const inFlight = createInFlight(log);
    inFlight.run("stuck", () => new Promise(() => {}));
    expect(await inFlight.drain(20)).toBe(false);
    expect(inFlight.size).toBe(1);
  });

  it("logs a failing handler instead of rejecting", async () => {
    const { log, lines } = quiet();
    const inFlight = createInFlight(log);
    inFlight.run("broken", async () => {
      throw new Error("boom");
    });
    expect(await inFlight.drain(1000)).toBe(true);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: "error", handler: "broken", error: { message: "boom" } });
  });
});

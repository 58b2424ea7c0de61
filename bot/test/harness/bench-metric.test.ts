// The benchmark runner's verdicts: `npm run bench` exits 1 when a target is missed, so a reference
// figure (no target) must neither pass nor fail a run.
import { describe, expect, it } from "vitest";
import { type Metric, ratioOf, targetMet, targetText } from "../../../scripts/bench/metric.ts";

const metric = (over: Partial<Metric>): Metric => ({ name: "m", value: 80, unit: "ops/s", baseline: 100, target: null, ...over });

describe("bench metrics", () => {
  it("judges a ratio target against value/baseline", () => {
    expect(ratioOf(metric({}))).toBe(0.8);
    expect(targetMet(metric({ target: { on: "ratio", op: ">=", limit: 0.8 } }))).toBe(true);
    expect(targetMet(metric({ value: 79, target: { on: "ratio", op: ">=", limit: 0.8 } }))).toBe(false);
    expect(targetMet(metric({ baseline: null, target: { on: "ratio", op: ">=", limit: 0.8 } }))).toBe(false);
  });

  it("judges a value target against the value alone", () => {
    expect(targetMet(metric({ value: 150, target: { on: "value", op: "<=", limit: 150 } }))).toBe(true);
    expect(targetMet(metric({ value: 151, target: { on: "value", op: "<=", limit: 150 } }))).toBe(false);
  });

  it("gives a reference figure no verdict", () => {
    expect(targetMet(metric({}))).toBeNull();
    expect(targetText(null)).toBeNull();
    expect(targetText({ on: "ratio", op: ">=", limit: 0.8 })).toBe("ratio >= 0.8");
  });
});

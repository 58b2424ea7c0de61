import { describe, expect, it } from "vitest";
import { CanonicalJsonError, canonicalJson } from "../src/canonical-json.ts";

describe("canonicalJson", () => {
  it("sorts keys at every depth and writes no whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: true }], c: "x" } })).toBe('{"a":{"c":"x","d":[3,{"y":true,"z":null}]},"b":1}');
  });

  it("gives the same text for the same value built in any order", () => {
    expect(canonicalJson({ x: 1, y: 2 })).toBe(canonicalJson({ y: 2, x: 1 }));
  });

  it("sorts keys by UTF-16 code units and escapes strings as JSON.stringify does", () => {
    expect(canonicalJson({ "é": 1, z: 2, "\u{1F600}": 3, A: 4 })).toBe('{"A":4,"z":2,"é":1,"\u{1F600}":3}');
    expect(canonicalJson("line\nquote\"\u0007")).toBe('"line\\nquote\\"\\u0007"');
    expect(canonicalJson("\ud800")).toBe('"\\ud800"');
  });

  it("leaves out undefined members", () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  });

  it.each([
    ["NaN", { n: Number.NaN }, "$.n: NaN is not a finite number"],
    ["Infinity", { n: [1, Number.POSITIVE_INFINITY] }, "$.n[1]: Infinity is not a finite number"],
    ["a Date", { d: new Date(0) }, "$.d: only plain objects can be encoded"],
    ["a function", { f: () => 1 }, "$.f: function values cannot be encoded as JSON"],
    ["a bigint", { big: 1n }, "$.big: bigint values cannot be encoded as JSON"],
    ["undefined in an array", [undefined], "$[0]: undefined values cannot be encoded as JSON"],
  ])("refuses %s", (_what, value, message) => {
    expect(() => canonicalJson(value)).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(value)).toThrow(message);
  });
});

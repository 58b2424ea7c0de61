// Unit tests of the result message: head and tail kept within the chat limit, the count of what was
// left out, the log attached whenever the chat shows less than all of it.
import { describe, expect, it } from "vitest";
import type { ExecResult } from "@pocketcoder/sandbox/protocol";
import { inlineChars, ledgerResult, renderResult, shownOutput } from "../../src/approvals/result-report.ts";

function result(extra: Partial<ExecResult>): ExecResult {
  return {
    execId: "0123456789abcdef",
    session: "ses_1",
    callId: "call_1",
    status: "exited",
    exitCode: 0,
    durationMs: 61_000,
    cwd: "/w/app",
    outputBytes: 0,
    outputSha256: "c".repeat(64),
    truncated: false,
    head: "",
    tail: "",
    omittedBytes: 0,
    logPath: null,
    startedAt: null,
    finishedAt: new Date(0).toISOString(),
    ...extra,
  };
}

describe("result report", () => {
  it("shows a short output whole and attaches nothing", () => {
    const r = renderResult("ABC234", result({ head: "one\ntwo\n", outputBytes: 8 }));
    expect(r.attachLog).toBe(false);
    expect(r.markdown).toBe("**Result** · code `ABC234` · ✅ exit 0 · 1 min 1 s · cwd `/w/app`\n\n```text\none\ntwo\n```");
  });

  it("says so when there was no output", () => {
    expect(renderResult("ABC234", result({ status: "timed_out", exitCode: null })).markdown).toMatch(/⏱ timed out .*\n\n\(no output\)$/);
  });

  it("cuts a long output the runner kept whole to head and tail, counting the bytes left out", () => {
    const all = "x".repeat(3 * inlineChars) + "é".repeat(1000);
    const shown = shownOutput({ head: all, tail: "", truncated: false, omittedBytes: 0 });
    expect(shown.cut).toBe(true);
    const [head, tail] = shown.text.split(/\n\[… \d+ bytes omitted …\]\n/);
    expect(head).toHaveLength(inlineChars);
    expect(tail).toHaveLength(inlineChars);
    const omitted = Number(/\[… (\d+) bytes omitted …\]/.exec(shown.text)![1]);
    expect(omitted).toBe(Buffer.byteLength(all) - Buffer.byteLength(head!) - Buffer.byteLength(tail!));
  });

  it("cuts the runner's head and tail further and adds what it cut to the omitted count", () => {
    const shown = shownOutput({ head: "h".repeat(inlineChars + 10), tail: "t".repeat(inlineChars + 5), truncated: true, omittedBytes: 100 });
    expect(shown.text).toContain("[… 115 bytes omitted …]");
    const r = renderResult("ABC234", result({ head: "h".repeat(inlineChars + 10), tail: "t".repeat(inlineChars + 5), truncated: true, omittedBytes: 100, outputBytes: 8115 }));
    expect(r.attachLog).toBe(true);
    expect(r.markdown).toMatch(/The whole output \(8115 bytes, sha256 `cccccccccccccccc…`\) is attached\.$/);
    // Well inside a Matrix event even after encryption.
    expect(Buffer.byteLength(r.markdown) * 4 / 3).toBeLessThan(60_000);
  });

  it("never splits a surrogate pair at a cut", () => {
    const shown = shownOutput({ head: "a" + "😀".repeat(inlineChars), tail: "", truncated: false, omittedBytes: 0 });
    expect(shown.text).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });

  it("records exit code only for exited runs, and the timed-out flag", () => {
    expect(ledgerResult(result({ status: "timed_out", exitCode: 143 }))).toMatchObject({ exitCode: null, timedOut: true });
    expect(ledgerResult(result({ status: "exited", exitCode: 3 }))).toMatchObject({ exitCode: 3, timedOut: false });
  });
});

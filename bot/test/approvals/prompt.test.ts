import { describe, expect, it } from "vitest";
import { diffPreview, renderOutcome, renderPrompt, whoMayApprove, type PromptRequest } from "../../src/approvals/prompt.ts";
import { fenced, visibleControlChars } from "../../src/approvals/visible.ts";

const base: PromptRequest = {
  code: "K7Q2XM",
  tool: "bash",
  command: "rm -rf build",
  project: "demo",
  cwd: "/workspace/demo",
  rule: "ask-everything-else",
  risk: "medium",
  requester: "@owner:hs",
  expiresAt: Date.UTC(2026, 0, 1, 12, 15),
  spec: { quorum: 1, minPowerLevel: 50, selfApproval: true, strict: false },
  approverMentions: ["@alice:hs"],
};
const now = Date.UTC(2026, 0, 1, 12, 0);

describe("visible control characters", () => {
  it("names hidden characters by code point and keeps tab and newline", () => {
    expect(visibleControlChars("echo a\u0015b\u202e\tc\n\u200b\u2063")).toBe("echo a<U+0015>b<U+202E>\tc\n<U+200B><U+2063>");
  });

  it("fences with more backticks than the content holds", () => {
    expect(fenced("a ``` b")).toBe("````\na ``` b\n````");
    // An agent's command of 400,000 backtick runs still gets its fence.
    expect(fenced("` ".repeat(400_000) + "``").startsWith("```\n")).toBe(true);
  });
});

describe("approval prompt", () => {
  it("says what, where, why, who, when and the code", () => {
    const text = renderPrompt(base, now);
    for (const part of ["K7Q2XM", "rm -rf build", "/workspace/demo", "demo", "ask-everything-else", "medium", "power level ≥ 50", "12:15 UTC", "in 15 min", "@alice:hs", "!approve K7Q2XM"]) {
      expect(text).toContain(part);
    }
  });

  it("shows an edit as the file and a diff", () => {
    const text = renderPrompt({ ...base, tool: "edit", command: undefined, path: "src/a.ts", diff: "-old\n+new" }, now);
    expect(text).toContain("`src/a.ts`");
    expect(text).toContain("```diff\n-old\n+new\n```");
  });

  it("tells strict approvers that reactions do not count", () => {
    expect(renderPrompt({ ...base, spec: { ...base.spec, strict: true } }, now)).toMatch(/only an encrypted `!approve K7Q2XM`/);
  });

  it("previews a diff of a few very long lines by size as well as by lines", () => {
    const diff = ["--- a", "+++ b", `+${"x".repeat(20_000)}`, "+end"].join("\n");
    const preview = diffPreview(diff);
    expect(preview.whole).toBe(false);
    expect(preview.text).toHaveLength(8_001);
    expect(preview.moreLines).toBe(1);
    expect(diffPreview("--- a\n+++ b\n+short")).toEqual({ text: "--- a\n+++ b\n+short", whole: true, moreLines: 0 });
  });

  it("describes quorum and self-approval", () => {
    expect(whoMayApprove({ quorum: 2, selfApproval: false, strict: false })).toBe(
      "2 approvals from different people from any member of this room; the requester's own vote does not count",
    );
    expect(whoMayApprove({ quorum: 1, selfApproval: false, strict: false, coRequesters: ["@bob:hs", "@carol:hs"] })).toBe(
      "1 approval from any member of this room; the requester's own vote does not count nor those of @bob:hs, @carol:hs, who also spoke in this turn",
    );
    expect(whoMayApprove({ quorum: 1, selfApproval: true, strict: false, coRequesters: ["@bob:hs"] })).toBe("1 approval from any member of this room");
  });

  it("renders who decided and when", () => {
    const tally = { outcome: "approved" as const, approvers: ["@alice:hs"], deniers: [], ignored: [], alwaysBy: [] };
    expect(renderOutcome(base, { kind: "approved", tally, at: now })).toContain("Approved by @alice:hs at 12:00 UTC");
    expect(renderOutcome(base, { kind: "expired", at: now })).toContain("Expired at 12:00 UTC");
  });
});

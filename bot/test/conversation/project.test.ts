import { describe, expect, it } from "vitest";
import { projectNameFor, slugify } from "../../src/conversation/project.ts";

describe("project names", () => {
  it("slugs a room name into a folder name", () => {
    expect(slugify("My Project!")).toBe("my-project");
    expect(slugify("  Über  café ")).toBe("uber-cafe");
    expect(slugify("../../etc")).toBe("etc");
    expect(slugify("...")).toBe("");
  });

  it("falls back to a hash of the room id when the name leaves nothing", () => {
    expect(projectNameFor(undefined, "!abc:x", new Set())).toMatch(/^room-[0-9a-f]{8}$/);
    expect(projectNameFor("🚀", "!abc:x", new Set())).toBe(projectNameFor(undefined, "!abc:x", new Set()));
  });

  it("never takes a name another room uses", () => {
    expect(projectNameFor("Demo", "!a:x", new Set(["demo", "demo-2"]))).toBe("demo-3");
  });
});

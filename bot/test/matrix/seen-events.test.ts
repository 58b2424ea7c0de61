import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openSeenEvents } from "../../src/matrix/seen-events.ts";

describe("seen events", () => {
  it("lets each event id be claimed once, also after reopening", () => {
    const path = join(mkdtempSync(join(tmpdir(), "pocketcoder-seen-")), "state.db");
    const a = openSeenEvents(path);
    expect(a.claim("$1", "!r")).toBe(true);
    expect(a.claim("$1", "!r")).toBe(false);
    expect(a.claim("$2", "!r")).toBe(true);
    a.close();
    const b = openSeenEvents(path);
    expect(b.claim("$1", "!r")).toBe(false);
    b.close();
  });

  it("forgets ids older than the retention period", () => {
    const path = join(mkdtempSync(join(tmpdir(), "pocketcoder-seen-")), "state.db");
    let now = 0;
    const a = openSeenEvents(path, () => now);
    a.claim("$old", "!r");
    a.close();
    now = 31 * 24 * 3600 * 1000;
    const b = openSeenEvents(path, () => now);
    expect(b.claim("$old", "!r")).toBe(true);
    b.close();
  });
});

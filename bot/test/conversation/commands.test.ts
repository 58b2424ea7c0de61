import { describe, expect, it } from "vitest";
import type { CommandContext } from "../../src/chat/command.ts";
import { conversationCommands, type ConversationControl } from "../../src/conversation/commands.ts";

const ctx: CommandContext = { args: "", sender: "@a:x", roomId: "!r:x", eventId: "$e", sentAt: 0, now: () => 0, commands: [] };

function commands(overrides: Partial<ConversationControl>) {
  const control: ConversationControl = {
    newSession: async () => ({ project: "demo", sessionId: "ses_2", stopped: null }),
    stopRoom: async () => null,
    binding: () => null,
    ...overrides,
  };
  const byName = new Map(conversationCommands(control).map((c) => [c.name, c]));
  return async (name: string) => {
    const c = byName.get(name)!;
    return c.render(await c.execute(ctx));
  };
}

describe("conversation commands", () => {
  it("!stop says what it stopped", async () => {
    const run = commands({ stopRoom: async () => ({ project: "demo", cancelledRequests: 2, cancelledCommand: true }) });
    expect(await run("stop")).toBe("⏹ Stopped the agent. 2 requests waiting for approval cancelled. The running command was cancelled.");
    expect(await commands({})("stop")).toBe("Nothing to stop: this room has no agent session yet.");
  });

  it("!new names the project and what it stopped", async () => {
    const run = commands({ newSession: async () => ({ project: "demo", sessionId: "ses_2", stopped: { project: "demo", cancelledRequests: 1, cancelledCommand: false } }) });
    expect(await run("new")).toBe("🆕 New session in project `demo`: the agent starts without the earlier conversation.\n\n⏹ Stopped the agent. 1 request waiting for approval cancelled.");
  });

  it("answers plainly when the agent cannot be reached", async () => {
    const down = async () => {
      throw new Error("opencode is not running");
    };
    const run = commands({ newSession: down, stopRoom: down });
    expect(await run("new")).toBe("⚠ Could not start a new session: opencode is not running. Try again in a moment.");
    expect(await run("stop")).toBe("⚠ Could not stop the agent: opencode is not running. Try again in a moment.");
  });

  it("!project shows the binding", async () => {
    const run = commands({ binding: () => ({ roomId: "!r:x", project: "demo", directory: "/w/demo", sessionId: "ses_1", boundBy: "@a:x", boundAt: Date.UTC(2026, 0, 2, 3, 4) }) });
    expect(await run("project")).toBe("Project `demo` (folder `/w/demo`), session `ses_1`, started by @a:x on 2026-01-02 03:04 UTC.");
  });
});

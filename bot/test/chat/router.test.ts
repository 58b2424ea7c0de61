import { describe, expect, it } from "vitest";
import { defineCommand } from "../../src/chat/command.ts";
import { commandTable, help, ping } from "../../src/chat/commands.ts";
import { parseCommand } from "../../src/chat/parse-command.ts";
import { createRouter, type IncomingMessage } from "../../src/chat/router.ts";

const message = (body: string, extra: Partial<IncomingMessage> = {}): IncomingMessage => ({
  roomId: "!room:x",
  eventId: "$ev",
  sender: "@alice:x",
  body,
  sentAt: 1_000,
  ...extra,
});

function harness() {
  const replies: string[] = [];
  const chats: string[] = [];
  const router = createRouter({
    commands: commandTable,
    reply: async (_m, md) => void replies.push(md),
    chat: async (m) => void chats.push(m.body),
    now: () => 1_042,
  });
  return { router, replies, chats };
}

describe("parseCommand", () => {
  it("reads a command word and its arguments", () => {
    expect(parseCommand("!ping")).toEqual({ name: "ping", args: "" });
    expect(parseCommand("  !Deny  ABC  too risky ")).toEqual({ name: "deny", args: "ABC  too risky" });
    expect(parseCommand("!approve\nX1")).toEqual({ name: "approve", args: "X1" });
  });

  it("leaves ordinary chat alone", () => {
    for (const body of ["hello", "! ping", "!!", "!1st", "say !ping"]) expect(parseCommand(body)).toBeNull();
  });
});

describe("commands", () => {
  const ctx = { args: "", sender: "@a:x", roomId: "!r:x", sentAt: 5_000, now: () => 5_120, commands: [] };

  it("!ping measures from the server timestamp to now", () => {
    const result = ping.execute(ctx) as { elapsedMs: number };
    expect(result).toEqual({ elapsedMs: 120 });
    expect(ping.render(result)).toBe("pong (120 ms from your message reaching the homeserver to this answer)");
  });

  it("!ping never reports a negative time when clocks disagree", () => {
    expect(ping.execute({ ...ctx, now: () => 4_000 })).toEqual({ elapsedMs: 0 });
  });

  it("!help lists every command of the table", () => {
    const infos = commandTable.map(({ name, usage, summary }) => ({ name, usage, summary }));
    const text = help.render(help.execute({ ...ctx, commands: infos }));
    for (const c of commandTable) expect(text).toContain(`\`${c.usage}\` — ${c.summary}`);
  });
});

describe("router", () => {
  it("answers !ping and !help", async () => {
    const { router, replies } = harness();
    await router.route(message("!ping"));
    await router.route(message("!HELP"));
    expect(replies[0]).toBe("pong (42 ms from your message reaching the homeserver to this answer)");
    expect(replies[1]).toContain("`!ping`");
    expect(replies[1]).toContain("`!help`");
  });

  it("tells the sender when a command fails, and still reports the failure to the caller", async () => {
    const replies: string[] = [];
    const broken = defineCommand<string>({
      name: "broken",
      usage: "!broken",
      summary: "fails",
      execute: () => {
        throw new Error("the ledger is read-only");
      },
      render: (t) => t,
    });
    const router = createRouter({ commands: [broken], reply: async (_m, md) => void replies.push(md), chat: async () => undefined });
    await expect(router.route(message("!broken"))).rejects.toThrow("the ledger is read-only");
    expect(replies).toEqual(["⚠ `!broken` failed: the ledger is read-only"]);
  });

  it("names an unknown command and points to !help", async () => {
    const { router, replies, chats } = harness();
    await router.route(message("!frobnicate now"));
    expect(replies).toEqual(["I don't know the command `!frobnicate`. Send `!help` for the list of commands."]);
    expect(chats).toEqual([]);
  });

  it("hands everything else to chat", async () => {
    const { router, replies, chats } = harness();
    await router.route(message("please fix the tests"));
    expect(chats).toEqual(["please fix the tests"]);
    expect(replies).toEqual([]);
  });

  it("refuses two commands with one name", () => {
    const dup = defineCommand({ name: "ping", usage: "!ping", summary: "again", execute: () => 1, render: String });
    expect(() => createRouter({ commands: [ping, dup], reply: async () => {}, chat: async () => {} })).toThrow(/two commands are named !ping/);
  });
});

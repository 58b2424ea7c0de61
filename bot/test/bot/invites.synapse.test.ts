// Issue 2, test 4: an invite to an unencrypted room is refused with a message (the bot joins, says
// why, leaves); an invite from a user who is not allowed is ignored: the bot never joins.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBotAccount, type BotAccount } from "@pocketcoder/testkit/bot-account";
import { startBotProcess, type BotProcess } from "@pocketcoder/testkit/bot-process";
import { createTestUser, testHomeserver, type TestUser } from "@pocketcoder/testkit/matrix-user";

async function waitForLogLine(bot: BotProcess, match: (entry: Record<string, unknown>) => boolean, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const line of bot.log().split("\n")) {
      if (!line.startsWith("{")) continue;
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (match(entry)) return entry;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no matching log line within ${timeoutMs} ms; log:\n${bot.log()}`);
}

describe("invites", () => {
  let alice: TestUser;
  let mallory: TestUser;
  let account: BotAccount;
  let bot: BotProcess;

  beforeAll(async () => {
    const hs = testHomeserver();
    alice = await createTestUser(hs, "alice");
    mallory = await createTestUser(hs, "mallory");
    // Allowed by user id only: mallory is on the same server but not on the list.
    account = await createBotAccount(hs, { allowedUsers: [alice.userId] });
    bot = await startBotProcess(account.env());
  });

  afterAll(async () => {
    await bot?.stop();
    await account?.remove();
    alice?.stop();
    mallory?.stop();
  });

  it("refuses an unencrypted room with a message, then leaves", async () => {
    const roomId = await alice.createRoom({ encrypted: false, invite: [bot.ready.userId] });
    const notice = await alice.waitForMessage(roomId, /end-to-end encrypted/, { sender: bot.ready.userId });
    expect(notice.isEncrypted()).toBe(false);
    await alice.waitForMembership(roomId, bot.ready.userId, "leave");
  });

  it("ignores an invite from a user who is not allowed", async () => {
    const roomId = await mallory.createRoom({ invite: [bot.ready.userId] });
    // The bot logs its decision; after it nothing more happens for that room.
    await waitForLogLine(bot, (e) => e.msg === "ignoring invite from a user who is not allowed" && e.roomId === roomId);
    // An allowed invite sent afterwards is acted on, so the bot is not merely asleep.
    const aliceRoom = await alice.createRoom({ invite: [bot.ready.userId] });
    await alice.waitForMembership(aliceRoom, bot.ready.userId, "join");

    const member = await mallory.client.getStateEvent(roomId, "m.room.member", bot.ready.userId);
    expect(member.membership).toBe("invite");
    const said = mallory.client.getRoom(roomId)!.getLiveTimeline().getEvents().filter((e) => e.getSender() === bot.ready.userId);
    expect(said.map((e) => e.getType())).toEqual([]);
  });
});

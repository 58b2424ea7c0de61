// Issue 2, tests 1 and 5: the bot joins an encrypted room when an allowed user invites it, answers
// !ping with an encrypted pong, and its device is cross-signed by its owner as others see it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBotAccount, type BotAccount } from "@pocketcoder/testkit/bot-account";
import { startBotProcess, type BotProcess } from "@pocketcoder/testkit/bot-process";
import { createTestUser, testHomeserver, type TestUser } from "@pocketcoder/testkit/matrix-user";

describe("bot in an encrypted room", () => {
  let alice: TestUser;
  let account: BotAccount;
  let bot: BotProcess;

  beforeAll(async () => {
    const hs = testHomeserver();
    alice = await createTestUser(hs, "alice");
    account = await createBotAccount(hs, { allowedUsers: [alice.userId] });
    bot = await startBotProcess(account.env());
  });

  afterAll(async () => {
    await bot?.stop();
    await account?.remove();
    alice?.stop();
  });

  it("joins on invite and answers !ping with an encrypted pong", async () => {
    const roomId = await alice.createRoom({ invite: [bot.ready.userId] });
    await alice.waitForMembership(roomId, bot.ready.userId, "join");
    const pingId = await alice.sendText(roomId, "!ping");

    const pong = await alice.waitForMessage(roomId, /^pong/, { sender: bot.ready.userId });
    expect(pong.isEncrypted()).toBe(true);
    expect(pong.getWireType()).toBe("m.room.encrypted");
    expect(pong.isDecryptionFailure()).toBe(false);
    expect(pong.getContent()["m.relates_to"]?.["m.in_reply_to"]?.event_id).toBe(pingId);
    expect(pong.getContent().body).toMatch(/^pong \(\d+ ms /);
  });

  it("shows the bot's device as cross-signed by its owner", async () => {
    expect(await alice.deviceIsCrossSignedByOwner(bot.ready.userId, bot.ready.deviceId)).toBe(true);
  });
});

// Issue 2, tests 2 and 3: the bot keeps its identity across a clean restart and across SIGKILL,
// answers a message sent while it was down exactly once, and never answers anything twice.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MatrixEvent } from "matrix-js-sdk";
import { createBotAccount, type BotAccount } from "@pocketcoder/testkit/bot-account";
import { startBotProcess, type BotProcess } from "@pocketcoder/testkit/bot-process";
import { createTestUser, testHomeserver, type TestUser } from "@pocketcoder/testkit/matrix-user";

/** The bot's device key as the homeserver publishes it to other users. */
async function publishedDeviceKey(user: TestUser, botId: string, deviceId: string): Promise<string | undefined> {
  const devices = await user.client.getCrypto()!.getUserDeviceInfo([botId], true);
  return devices.get(botId)?.get(deviceId)?.getFingerprint();
}

/** Same device and key as the first start; on a mismatch the message carries the bot's log. */
function expectSameIdentity(later: BotProcess, first: BotProcess) {
  const identity = (b: BotProcess) => ({ deviceId: b.ready.deviceId, deviceKey: b.ready.deviceKey });
  expect(later.ready.firstStart, later.log()).toBe(false);
  expect(identity(later), later.log()).toEqual(identity(first));
}

/** Every message the bot sent in the room, as the user's client has them so far. */
function botReplies(user: TestUser, roomId: string, botId: string): MatrixEvent[] {
  return user.client
    .getRoom(roomId)!
    .getLiveTimeline()
    .getEvents()
    .filter((e) => e.getSender() === botId && e.getType() === "m.room.message");
}

function replyTarget(event: MatrixEvent): string | undefined {
  return event.getContent()["m.relates_to"]?.["m.in_reply_to"]?.event_id;
}

describe("bot restarts", () => {
  let alice: TestUser;
  const running: BotProcess[] = [];
  const accounts: BotAccount[] = [];
  const start = async (account: BotAccount) => {
    const bot = await startBotProcess(account.env());
    running.push(bot);
    return bot;
  };

  beforeAll(async () => {
    alice = await createTestUser(testHomeserver(), "alice");
  });

  afterAll(async () => {
    for (const bot of running) await bot.stop();
    for (const account of accounts) await account.remove();
    alice?.stop();
  });

  it("keeps device and key over stop/start, answers what came while down once, and nothing twice", async () => {
    const account = await createBotAccount(testHomeserver(), { allowedUsers: [alice.userId] });
    accounts.push(account);
    const first = await start(account);
    expect(first.ready.firstStart).toBe(true);
    const botId = first.ready.userId;
    const roomId = await alice.createRoom({ invite: [botId] });
    await alice.waitForMembership(roomId, botId, "join");

    const before = await alice.sendText(roomId, "!ping");
    await alice.waitForMessage(roomId, /^pong/, { sender: botId });
    expect(await first.stop()).toEqual({ code: 0, signal: null });

    const whileDown = await alice.sendText(roomId, "!ping");
    const second = await start(account);
    expectSameIdentity(second, first);
    expect(await publishedDeviceKey(alice, botId, second.ready.deviceId)).toBe(first.ready.deviceKey);

    const answer = await alice.waitForMessage(roomId, /^pong/, { sender: botId });
    expect(replyTarget(answer)).toBe(whileDown);
    expect(answer.isEncrypted()).toBe(true);

    // A later message is answered too; by then any duplicate from the restart would be there.
    const after = await alice.sendText(roomId, "!ping");
    await alice.waitForMessage(roomId, /^pong/, { sender: botId });
    const targets = botReplies(alice, roomId, botId).map(replyTarget);
    expect(targets).toEqual([before, whileDown, after]);
  });

  it("survives SIGKILL right after the first start: same identity, still decrypts, no double answers", async () => {
    const account = await createBotAccount(testHomeserver(), { allowedUsers: [alice.userId] });
    accounts.push(account);
    const first = await start(account);
    expect((await first.kill()).signal).toBe("SIGKILL");

    const second = await start(account);
    expectSameIdentity(second, first);
    const botId = second.ready.userId;

    const roomId = await alice.createRoom({ invite: [botId] });
    await alice.waitForMembership(roomId, botId, "join");
    const ping1 = await alice.sendText(roomId, "!ping");
    const pong1 = await alice.waitForMessage(roomId, /^pong/, { sender: botId });
    expect(pong1.isEncrypted()).toBe(true);
    expect(replyTarget(pong1)).toBe(ping1);

    // Killed again: its saved sync position is older than ping1, so ping1 comes back on restart.
    await second.kill();
    const third = await start(account);
    expectSameIdentity(third, first);
    const ping2 = await alice.sendText(roomId, "!ping");
    await alice.waitForMessage(roomId, /^pong/, { sender: botId });
    expect(botReplies(alice, roomId, botId).map(replyTarget)).toEqual([ping1, ping2]);
  });
});

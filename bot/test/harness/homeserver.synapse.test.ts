// Sanity checks of the test harness itself against the real throwaway Synapse: two Element-like
// users talk in an encrypted room, registration stays closed, and re-preparing keeps the secrets.
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareHomeserver } from "../../../scripts/lib/homeserver.ts";
import { createTestUser, messageBody, testHomeserver, type TestUser } from "@pocketcoder/testkit/matrix-user";

const hs = testHomeserver();

describe("throwaway homeserver and test users", () => {
  let alice: TestUser;
  let bob: TestUser;
  let roomId: string;

  beforeAll(async () => {
    [alice, bob] = await Promise.all([createTestUser(hs, "alice"), createTestUser(hs, "bob")]);
    roomId = await alice.createRoom({ invite: [bob.userId], name: "harness" });
    expect(await bob.waitForInvite(roomId)).toBe(roomId);
    await bob.join(roomId);
    await alice.waitForMembership(roomId, bob.userId);
  });

  afterAll(() => {
    alice?.stop();
    bob?.stop();
  });

  it("delivers an encrypted message that the other user decrypts", async () => {
    const sent = await alice.sendText(roomId, "hello from alice");
    const received = await bob.waitForMessage(roomId, "hello from alice");
    expect(received.getId()).toBe(sent);
    expect(received.isEncrypted()).toBe(true);
    expect(received.isDecryptionFailure()).toBe(false);
    expect(messageBody(received)).toBe("hello from alice");
  });

  it("shows a reaction and its redaction to the other user", async () => {
    const target = await bob.sendText(roomId, "react to me");
    await alice.waitForMessage(roomId, "react to me");
    const reactionId = await alice.react(roomId, target, "✅");
    const reaction = await bob.waitForEvent(roomId, (e) => e.getId() === reactionId);
    expect(reaction.getType()).toBe("m.reaction");
    expect(reaction.getRelation()).toMatchObject({ rel_type: "m.annotation", event_id: target, key: "✅" });

    const redactionId = await alice.redact(roomId, reactionId);
    const redaction = await bob.waitForEvent(roomId, (e) => e.getId() === redactionId);
    expect(redaction.getType()).toBe("m.room.redaction");
    expect(redaction.event.redacts ?? redaction.getContent().redacts).toBe(reactionId);
  });

  it("tells a cross-signed device from one that is not", async () => {
    const carol = await createTestUser(hs, "carol", { crossSign: false });
    try {
      await carol.join(await alice.createRoom({ invite: [carol.userId] }));
      expect(await alice.deviceIsCrossSignedByOwner(bob.userId, bob.deviceId)).toBe(true);
      expect(await bob.deviceIsCrossSignedByOwner(alice.userId, alice.deviceId)).toBe(true);
      expect(await alice.deviceIsCrossSignedByOwner(carol.userId, carol.deviceId)).toBe(false);
    } finally {
      carol.stop();
    }
  });

  it("refuses open registration", async () => {
    const res = await fetch(`${hs.baseUrl}/_matrix/client/v3/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "intruder", password: "intruder-password", auth: { type: "m.login.dummy" } }),
    });
    expect(res.status).toBe(403);
  });

  it("keeps the secrets and signing key when the folder is prepared again", async () => {
    const signingKey = await readFile(join(hs.dir, "signing.key"), "utf8");
    const again = await prepareHomeserver({ dir: hs.dir, port: Number(new URL(hs.baseUrl).port), testMode: true });
    expect(again.sharedSecret).toBe(hs.sharedSecret);
    expect(await readFile(join(hs.dir, "signing.key"), "utf8")).toBe(signingKey);
    const mode = (await stat(join(hs.dir, "secrets", "registration_shared_secret"))).mode & 0o777;
    expect(mode).toBe(0o600);
  });
});

import { describe, expect, it } from "vitest";
import { decryptAttachment, EncryptedFile, encryptAttachment } from "../../src/matrix/attachment-crypto.ts";

describe("attachment encryption", () => {
  const plain = new TextEncoder().encode("a log file\n".repeat(1000));

  it("round-trips and hides the content", () => {
    const { ciphertext, info } = encryptAttachment(plain);
    expect(Buffer.from(ciphertext).equals(Buffer.from(plain))).toBe(false);
    expect(ciphertext.byteLength).toBe(plain.byteLength);
    expect(Buffer.from(decryptAttachment(ciphertext, info)).equals(Buffer.from(plain))).toBe(true);
  });

  it("matches the spec's EncryptedFile shape: v2, A256CTR, counter half of the IV zero", () => {
    const { info } = encryptAttachment(plain);
    expect(EncryptedFile.safeParse({ url: "mxc://x/y", ...info }).success).toBe(true);
    const iv = Buffer.from(info.iv, "base64");
    expect(iv.length).toBe(16);
    expect(iv.subarray(8).every((b) => b === 0)).toBe(true);
    expect(Buffer.from(info.key.k, "base64url").length).toBe(32);
    expect(info.iv).not.toMatch(/=/);
  });

  it("refuses ciphertext whose hash does not match", () => {
    const { ciphertext, info } = encryptAttachment(plain);
    ciphertext[0] = ciphertext[0]! ^ 1;
    expect(() => decryptAttachment(ciphertext, info)).toThrow(/hash/);
  });
});

// Attachment encryption as the spec's EncryptedFile (v2): AES-256-CTR with a random key, a 16-byte
// IV whose low 64 bits (the counter) start at zero, and the SHA-256 of the ciphertext.
// matrix-js-sdk does not export this (Element uses a separate package), and node:crypto does it.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { z } from "zod";

export const EncryptedFile = z.object({
  url: z.string(),
  key: z.object({
    kty: z.literal("oct"),
    key_ops: z.array(z.string()),
    alg: z.literal("A256CTR"),
    k: z.string(),
    ext: z.literal(true),
  }),
  iv: z.string(),
  hashes: z.object({ sha256: z.string() }),
  v: z.literal("v2"),
});
export type EncryptedFile = z.infer<typeof EncryptedFile>;

const unpadded = (b: Buffer) => b.toString("base64").replace(/=+$/, "");

export function encryptAttachment(plain: Uint8Array): { ciphertext: Uint8Array; info: Omit<EncryptedFile, "url"> } {
  const key = randomBytes(32);
  const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
  const cipher = createCipheriv("aes-256-ctr", key, iv);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  return {
    ciphertext: new Uint8Array(ciphertext),
    info: {
      key: { kty: "oct", key_ops: ["encrypt", "decrypt"], alg: "A256CTR", k: key.toString("base64url"), ext: true },
      iv: unpadded(iv),
      hashes: { sha256: unpadded(createHash("sha256").update(ciphertext).digest()) },
      v: "v2",
    },
  };
}

/** The inverse, checking the hash first; used by tests and by later work that reads files. */
export function decryptAttachment(ciphertext: Uint8Array, info: Omit<EncryptedFile, "url">): Uint8Array {
  const digest = unpadded(createHash("sha256").update(ciphertext).digest());
  if (digest !== info.hashes.sha256.replace(/=+$/, "")) throw new Error("attachment hash does not match");
  const key = Buffer.from(info.key.k, "base64url");
  const iv = Buffer.from(info.iv, "base64");
  const decipher = createDecipheriv("aes-256-ctr", key, iv);
  return new Uint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
}

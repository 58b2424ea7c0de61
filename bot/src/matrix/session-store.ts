// The bot's Matrix session (written once, at the first login) and the key of its crypto store.
// Reusing both is what keeps the same device, and so the same keys, across restarts.
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { readSecretFile, writeSecretFile } from "./secret-files.ts";

export const Session = z.object({
  userId: z.string().min(1),
  deviceId: z.string().min(1),
  accessToken: z.string().min(1),
});
export type Session = z.infer<typeof Session>;

export function readSession(path: string): Session | null {
  const text = readSecretFile(path);
  if (text === null) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`${path} is not valid JSON; restore it from a backup (deleting it means a new device)`);
  }
  const parsed = Session.safeParse(raw);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => i.path.join(".") || "(top level)").join(", ");
    throw new Error(`${path} is damaged (bad or missing ${fields}); restore it from a backup`);
  }
  return parsed.data;
}

export function saveSession(path: string, session: Session): void {
  writeSecretFile(path, JSON.stringify(session, null, 2) + "\n");
}

/**
 * The 32-byte key of the crypto store. Created only when there is no session yet: a session
 * without its key means the store cannot be opened, and a new key would not help.
 */
export function loadOrCreateStorageKey(path: string, haveSession: boolean): Uint8Array {
  const text = readSecretFile(path);
  if (text !== null) {
    const key = Buffer.from(text.trim(), "base64");
    if (key.length !== 32) throw new Error(`${path} must hold 32 base64-encoded bytes, found ${key.length}`);
    return new Uint8Array(key);
  }
  if (haveSession) {
    throw new Error(`${path} is missing but a session exists: the crypto store cannot be opened without it; restore it from a backup`);
  }
  const key = randomBytes(32);
  writeSecretFile(path, key.toString("base64") + "\n");
  return new Uint8Array(key);
}

// Small files holding secrets: written atomically (temp file, fsync, rename) with mode 0600, so a
// crash leaves either the old or the new content and no other user can read them.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, chmodSync, existsSync } from "node:fs";

export function writeSecretFile(path: string, content: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, typeof content === "string" ? Buffer.from(content, "utf8") : content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** The file's text, or null when it does not exist. Tightens a too-open mode back to 0600. */
export function readSecretFile(path: string): string | null {
  if (!existsSync(path)) return null;
  chmodSync(path, 0o600);
  return readFileSync(path, "utf8");
}

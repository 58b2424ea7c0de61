// Small files holding secrets: written atomically (temp file, fsync, rename) with mode 0600, so a
// crash leaves either the old or the new content and no other user can read them.
import { chmodSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from "node:fs";

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

/** The file's text, or null when it does not exist. */
export function readSecretFile(path: string): string | null {
  if (!existsSync(path)) return null;
  return readFileSync(path, "utf8");
}

/** The permission bits of the file, e.g. 0o600; `pocketcoder doctor` warns when others can read it. */
export function fileMode(path: string): number {
  return statSync(path).mode & 0o777;
}

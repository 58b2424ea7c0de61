// Opens a command's output file for reading. The sandbox can write where output files start out,
// so a symlink or anything but a regular file planted there is refused, never followed. The open
// does not block: opening a named pipe for reading would wait for a writer, and with it the runner.
import { closeSync, constants, fstatSync, openSync } from "node:fs";

/** A read-only descriptor of the regular file at `path`, or null when there is none. */
export function openRegularFile(path: string): number | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  if (fstatSync(fd).isFile()) return fd;
  closeSync(fd);
  return null;
}

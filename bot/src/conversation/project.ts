// A room's project folder in the workspace: named after the room (a readable slug), or after a hash
// of the room id when the room has no usable name; never the folder another room already uses.
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

const maxSlug = 40;

/** `My Project!` → `my-project`; '' when nothing usable is left. */
export function slugify(name: string): string {
  return name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[-.]+|[-.]+$/g, "")
    .slice(0, maxSlug)
    .replace(/[-.]+$/, "");
}

/** The project name for a room: its name's slug unless taken by another room, then `-2`, `-3` …. */
export function projectNameFor(roomName: string | undefined, roomId: string, taken: ReadonlySet<string>): string {
  const base = slugify(roomName ?? "") || `room-${createHash("sha256").update(roomId).digest("hex").slice(0, 8)}`;
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}

/** Creates the project folder if needed; returns its absolute path. */
export async function ensureProjectDir(workspace: string, project: string): Promise<string> {
  const dir = join(workspace, project);
  await mkdir(dir, { recursive: true });
  return dir;
}

// What one opencode permission request asks for, in the ledger's terms (tool, input kind, the exact
// input, cwd, call id) and in the policy's (command or paths). Pure.
import { resolve } from "node:path";
import type { PermissionRequest, ToolPart } from "../agent/events.ts";
import { canonicalJson } from "../canonical-json.ts";
import type { InputKind } from "../ledger/schemas.ts";

export interface RequestInput {
  tool: string;
  inputKind: InputKind;
  /** Exactly what runs or changes: the command, the diff, or canonical JSON of the arguments. */
  input: string;
  cwd: string;
  callId: string | null;
  /** For the policy: the command (bash) or the paths the call touches (other tools). */
  command?: string;
  paths?: string[];
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** The directory a bash call runs in: opencode resolves `workdir` against the project directory. */
export function bashCwd(directory: string, part: ToolPart | undefined): string {
  const workdir = part ? str(part.state.input?.["workdir"]) : undefined;
  return workdir ? resolve(directory, workdir) : resolve(directory);
}

export function requestInput(permission: PermissionRequest, directory: string, part?: ToolPart): RequestInput {
  const tool = permission.permission;
  const callId = permission.tool?.callID ?? null;
  const meta = permission.metadata;
  if (tool === "bash") {
    const command = str(meta["command"]) ?? permission.patterns.join("\n");
    return { tool, inputKind: "command", input: command, cwd: bashCwd(directory, part), callId, command };
  }
  const diff = str(meta["diff"]);
  if (diff !== undefined) {
    // The unified diff names the file in its header, so the diff alone is the whole content.
    const file = str(meta["filepath"]);
    const paths = permission.patterns.length ? permission.patterns : file ? [file] : [];
    return { tool, inputKind: "diff", input: diff, cwd: resolve(directory), callId, paths };
  }
  const input = canonicalJson({ metadata: meta, patterns: permission.patterns, permission: tool });
  return { tool, inputKind: "arguments", input, cwd: resolve(directory), callId, paths: permission.patterns };
}

/** The file a diff changes, read from its header (`Index:`, else `+++`), for display. */
export function diffPath(diff: string): string | undefined {
  const index = /^Index: (.+)$/m.exec(diff)?.[1];
  if (index) return index.trim();
  const plus = /^\+\+\+ (?:b\/)?(.+?)(?:\t.*)?$/m.exec(diff)?.[1];
  return plus?.trim();
}

// What runs in each pane: an interactive bash that sources the init script, under bubblewrap when it
// works here (notes A11: no network, only the workspace and the session's own output spool writable,
// the commands dir read-only, and no --new-session so Ctrl-C reaches only the command) and plainly
// otherwise. Each session's shell gets its own spool folder (POCKETCODER_SPOOL), so under bubblewrap
// no session sees, or can change, another one's running output.
import { execFile } from "node:child_process";
import { accessSync, constants, lstatSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import type { SandboxMode } from "./protocol.ts";

export interface PaneCommandInput {
  workspace: string;
  /** Holds init.sh and cmds/; mounted read-only inside the sandbox at the same path. */
  runDir: string;
  initPath: string;
  /** Holds one folder per session, where its shell writes each command's output (`<id>.out`). */
  spoolDir: string;
  path: string;
}

export const paneTerm = "screen-256color";

function shellArgv(p: PaneCommandInput): string[] {
  return ["/bin/bash", "--noprofile", "--rcfile", p.initPath, "-i"];
}

function envPairs(p: PaneCommandInput, mode: SandboxMode, spool: string): [string, string][] {
  return [
    ["POCKETCODER_SPOOL", spool],
    ["PATH", p.path],
    ["HOME", p.workspace],
    // HOME is the project folder, which commands write: readline must not take key bindings from a
    // .inputrc there (a macro on Return would append to every command the runner types).
    ["INPUTRC", "/dev/null"],
    ["TERM", paneTerm],
    ["LANG", "C.UTF-8"],
    ["POCKETCODER_SANDBOX", mode],
  ];
}

/** Top-level system dirs: symlinks into /usr on merged-/usr systems are recreated, real dirs bound read-only. */
function systemDirs(): string[] {
  const args: string[] = ["--ro-bind", "/usr", "/usr"];
  for (const dir of ["/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"]) {
    try {
      const st = lstatSync(dir);
      if (st.isSymbolicLink()) args.push("--symlink", readlinkSync(dir), dir);
      else if (st.isDirectory()) args.push("--ro-bind", dir, dir);
    } catch {
      // absent on this system
    }
  }
  for (const file of ["/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/gitconfig"]) {
    args.push("--ro-bind-try", file, file);
  }
  return args;
}

/** `spool` is the session's own output folder, the only one of the spool mounted (at the same path). */
export function bwrapArgv(bwrap: string, p: PaneCommandInput, spool: string, command: string[] = shellArgv(p)): string[] {
  const env = envPairs(p, "bwrap", spool).flatMap(([k, v]) => ["--setenv", k, v]);
  return [
    bwrap,
    "--unshare-all",
    "--die-with-parent",
    ...systemDirs(),
    "--proc", "/proc",
    "--dev", "/dev",
    "--tmpfs", "/tmp",
    "--bind", p.workspace, p.workspace,
    "--ro-bind", p.runDir, p.runDir,
    "--bind", spool, spool,
    "--remount-ro", "/",
    "--chdir", p.workspace,
    "--clearenv",
    ...env,
    "--hostname", "sandbox",
    "--cap-drop", "ALL",
    "--",
    ...command,
  ];
}

export function plainArgv(p: PaneCommandInput, spool: string): string[] {
  return ["/usr/bin/env", "-i", ...envPairs(p, "plain", spool).map(([k, v]) => `${k}=${v}`), ...shellArgv(p)];
}

export interface PaneCommand {
  mode: SandboxMode;
  /** The pane's command line for a session whose output folder is `spool`. */
  argv(spool: string): string[];
  /** Set when the runner fell back to plain mode: say so in the log and to the bot. */
  warning: string | null;
}

function trial(argv: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 10_000, env: { PATH: "/usr/bin:/bin" } }, (err, _out, stderr) => {
      resolve(err ? (String(stderr).trim() || err.message) : null);
    });
  });
}

/** Picks the pane command; `auto` tries bubblewrap with a trial run and falls back to plain with a warning. */
export async function choosePaneCommand(wanted: "auto" | SandboxMode, p: PaneCommandInput): Promise<PaneCommand> {
  const plain = (spool: string) => plainArgv(p, spool);
  if (wanted === "plain") return { mode: "plain", argv: plain, warning: "sandbox disabled by configuration: commands run as the runner's user without isolation" };
  const bwrap = findExecutable("bwrap");
  const failure =
    bwrap === null
      ? "bwrap is not installed"
      : await trial(bwrapArgv(bwrap, p, p.spoolDir, ["/bin/bash", "-c", `test -d ${shellQuoteArg(p.workspace)} && test -r ${shellQuoteArg(p.initPath)} && test -w ${shellQuoteArg(p.spoolDir)}`]));
  if (bwrap !== null && failure === null) return { mode: "bwrap", argv: (spool) => bwrapArgv(bwrap, p, spool), warning: null };
  if (wanted === "bwrap") throw new Error(`bubblewrap was required but its trial run failed: ${failure}`);
  return {
    mode: "plain",
    argv: plain,
    warning: `bubblewrap is unavailable here (${failure}); commands run as the runner's user without isolation`,
  };
}

function shellQuoteArg(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

function findExecutable(name: string): string | null {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

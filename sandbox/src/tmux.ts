// The runner's only way to talk to tmux: execFile with an argv (never a shell string), on the
// runner's own socket and config. Text sent to panes is always fixed, runner-made ASCII
// (` __r <hex>`), passed with `-l --`, and Enter goes in its own send-keys (notes A6).
import { execFile } from "node:child_process";

export class TmuxError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export interface PaneState {
  paneId: string;
  session: string;
  agentSession: string;
  pid: number;
  dead: boolean;
  deadStatus: number | null;
  /** Set instead of deadStatus when the pane's process was killed by a signal. */
  deadSignal: number | null;
  piped: boolean;
  /** The pane's terminal (e.g. /dev/pts/3): the runner writes the display copy of a command's output there. */
  tty: string;
}

const noServer = /no server running|error connecting/;
const paneFormat = "#{pane_id}\t#{session_name}\t#{@pc_session}\t#{pane_pid}\t#{pane_dead}\t#{pane_dead_status}\t#{pane_dead_signal}\t#{pane_pipe}\t#{pane_tty}";

export class Tmux {
  /** `env` is the whole environment tmux (and so a newly started server) sees: keep secrets out. */
  constructor(
    readonly socket: string,
    readonly conf: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  run(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile("tmux", ["-S", this.socket, "-f", this.conf, ...args], { env: this.env, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new TmuxError(`tmux ${args[0]}: ${(stderr || err.message).trim()}`, String(stderr)));
        else resolve(stdout);
      });
    });
  }

  async serverRunning(): Promise<boolean> {
    try {
      await this.run(["list-sessions", "-F", "#{session_name}"]);
      return true;
    } catch (e) {
      if (e instanceof TmuxError && noServer.test(e.stderr)) return false;
      throw e;
    }
  }

  startServer(): Promise<string> {
    return this.run(["start-server"]);
  }

  /** Returns the new pane's id and terminal. */
  async newSession(name: string, agentSession: string, cwd: string, argv: string[], width: number, height: number): Promise<{ paneId: string; tty: string }> {
    const out = await this.run(["new-session", "-d", "-P", "-F", "#{pane_id}\t#{pane_tty}", "-s", name, "-x", String(width), "-y", String(height), "-c", cwd, "--", ...argv]);
    // window-size is set per window: tmux 3.3a crashes when a new session is created while it is set globally
    await this.run(["set-option", "-t", `=${name}:`, "@pc_session", agentSession, ";", "set-option", "-w", "-t", `=${name}:`, "window-size", "manual"]);
    const [paneId, tty] = out.trim().split("\t");
    return { paneId: paneId!, tty: tty ?? "" };
  }

  async panes(): Promise<PaneState[]> {
    let out: string;
    try {
      out = await this.run(["list-panes", "-a", "-F", paneFormat]);
    } catch (e) {
      if (e instanceof TmuxError && (noServer.test(e.stderr) || /no current target/.test(e.stderr))) return [];
      throw e;
    }
    return out
      .split("\n")
      .filter((l) => l.length > 0)
      .map((line) => {
        const [paneId, session, agentSession, pid, dead, deadStatus, deadSignal, piped, tty] = line.split("\t");
        return {
          paneId: paneId!,
          session: session!,
          agentSession: agentSession ?? "",
          pid: Number(pid),
          dead: dead === "1",
          deadStatus: deadStatus ? Number(deadStatus) : null,
          deadSignal: deadSignal ? Number(deadSignal) : null,
          piped: piped === "1",
          tty: tty ?? "",
        };
      });
  }

  /** Sends the pane's output, losslessly, appended to `logPath` (pipe-pane runs the command with sh -c). */
  pipeTo(paneId: string, logPath: string): Promise<string> {
    return this.run(["pipe-pane", "-O", "-t", paneId, `exec cat >> ${shellQuote(logPath)}`]);
  }

  /** Types a fixed runner-made line and presses Enter, after clearing anything left on the prompt line. */
  typeLine(paneId: string, line: string): Promise<string> {
    if (!/^ [_a-z]+( [0-9a-f]+)+$/.test(line)) throw new Error(`refusing to type ${JSON.stringify(line)}: only runner triggers are typed`);
    return this.run(["send-keys", "-t", paneId, "C-e", "C-u", ";", "send-keys", "-t", paneId, "-l", "--", line, ";", "send-keys", "-t", paneId, "Enter"]);
  }

  interrupt(paneId: string): Promise<string> {
    return this.run(["send-keys", "-t", paneId, "C-c"]);
  }

  respawn(paneId: string): Promise<string> {
    return this.run(["respawn-pane", "-k", "-t", paneId]);
  }

  capture(paneId: string): Promise<string> {
    return this.run(["capture-pane", "-p", "-t", paneId]);
  }

  killSession(name: string): Promise<string> {
    return this.run(["kill-session", "-t", `=${name}`]);
  }

  killServer(): Promise<string> {
    return this.run(["kill-server"]);
  }
}

export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The tmux config: set before any pane exists, so history-limit applies to every pane (notes A2). */
export function tmuxConf(historyLimit: number): string {
  return [
    `set -g history-limit ${historyLimit}`,
    "set -g remain-on-exit on",
    "set -g exit-empty off",
    "set -g exit-unattached off",
    "set -g destroy-unattached off",
    'set -g default-terminal "screen-256color"',
    "set -g update-environment ''",
    "",
  ].join("\n");
}

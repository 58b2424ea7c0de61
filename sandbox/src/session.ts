// One agent session = one tmux session with one pane running the sandboxed shell. Commands run one
// at a time; the rest wait in a bounded queue. A dead shell is respawned and its init re-sourced.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, constants, existsSync, mkdirSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { EventLog } from "./events.ts";
import type { ExecRun, PaneAccess } from "./exec-run.ts";
import { LogFollower } from "./log-follower.ts";
import type { Logger } from "./log.ts";
import { helloMarker } from "./shell-init.ts";
import type { PaneState, Tmux } from "./tmux.ts";

export interface SessionDeps {
  tmux: Tmux;
  events: EventLog;
  log: Logger;
  /** The pane's command line for a session whose output folder is the given one. */
  paneArgv(spool: string): string[];
  /** Holds each session's output folder (`<session id>/`). */
  spoolRoot: string;
  workspace: string;
  logsDir: string;
  /** The panes' FIFOs: the runner tells a shell there that it has shown a command's output. */
  acksDir: string;
  queueMax: number;
  pollMs: number;
  readyTimeoutMs: number;
}

export class BusyError extends Error {}

const width = 200;
const statusGraceMs = 2000;
const height = 50;

export class AgentSession {
  state: "starting" | "idle" | "running" | "failed" = "starting";
  failure: string | null = null;
  current: ExecRun | null = null;
  private queue: ExecRun[] = [];
  private respawning: Promise<void> | null = null;
  private closed = false;
  private deadSince: number | null = null;
  /** The status a command reported as it exited the shell, for the respawn report. */
  private exitedWith: number | null = null;
  /** Since when the session waits for a shell that announced its exit to be seen dead. */
  private awaitingRespawn: number | null = null;

  private constructor(
    readonly id: string,
    readonly tmuxName: string,
    public paneId: string,
    /** The pane's terminal; a respawn may give it a new one. */
    private tty: string,
    private readonly deps: SessionDeps,
  ) {}

  /** Starts the tmux session, attaches the lossless log, and waits until the shell has read its init. */
  static async create(id: string, tmuxName: string, deps: SessionDeps): Promise<AgentSession> {
    const log = join(deps.logsDir, `${tmuxName}.log`);
    closeSync(openSync(log, "a", 0o600));
    const spool = join(deps.spoolRoot, id);
    mkdirSync(spool, { recursive: true, mode: 0o700 });
    const { paneId, tty } = await deps.tmux.newSession(tmuxName, id, deps.workspace, deps.paneArgv(spool), width, height);
    const session = new AgentSession(id, tmuxName, paneId, tty, deps);
    await makeFifo(session.ackPath);
    await deps.tmux.pipeTo(paneId, log);
    await session.hello();
    session.state = "idle";
    deps.events.emit({ type: "session.created", session: id, tmuxSession: tmuxName });
    return session;
  }

  /** Takes over a session a previous runner started; its shell and log pipe are still there. */
  static async adopt(pane: PaneState, deps: SessionDeps): Promise<AgentSession> {
    const session = new AgentSession(pane.agentSession, pane.session, pane.paneId, pane.tty, deps);
    if (!pane.piped) await deps.tmux.pipeTo(pane.paneId, session.paneLog);
    session.state = "idle";
    return session;
  }

  get paneLog(): string {
    return join(this.deps.logsDir, `${this.tmuxName}.log`);
  }

  /** The pane's id without its `%`: it survives respawns, names the pane's FIFO and is all the shell is told. */
  private get paneNumber(): string {
    return this.paneId.replace(/^%/, "");
  }

  private get ackPath(): string {
    return join(this.deps.acksDir, this.paneNumber);
  }

  get queued(): number {
    return this.queue.length;
  }

  access(): PaneAccess {
    return {
      tmux: this.deps.tmux,
      paneId: this.paneId,
      tmuxSession: this.tmuxName,
      paneLog: this.paneLog,
      paneTty: () => this.tty,
      panePid: async () => {
        const pane = (await this.deps.tmux.panes()).find((p) => p.paneId === this.paneId);
        return pane && !pane.dead ? pane.pid : null;
      },
      respawn: (reason) => this.respawn(reason, null),
      ack: (execId) => this.ack(execId),
    };
  }

  /** Never blocks: without a reader (the shell is gone) or with a full FIFO the shell simply stops waiting after a second. */
  private ack(execId: string): void {
    let fd: number;
    try {
      fd = openSync(this.ackPath, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    } catch {
      return;
    }
    try {
      writeSync(fd, `${execId}\n`);
    } catch {
      // full: the shell has not read for a while and waits no more
    } finally {
      closeSync(fd);
    }
  }

  /** Queues a run; throws BusyError when the queue is full. Returns the queue position (0 = runs now). */
  enqueue(run: ExecRun): number {
    if (this.queue.length >= this.deps.queueMax) {
      throw new BusyError(`session ${this.id} is busy: ${this.queue.length} commands are already waiting (the limit is ${this.deps.queueMax})`);
    }
    this.queue.push(run);
    const position = this.current ? this.queue.length : 0;
    this.deps.events.emit({ type: "exec.queued", session: this.id, callId: run.spec.callId, execId: run.spec.execId, position });
    this.pump();
    return position;
  }

  /** Takes a not-yet-started run out of the queue. */
  dequeue(run: ExecRun): boolean {
    const i = this.queue.indexOf(run);
    if (i < 0) return false;
    this.queue.splice(i, 1);
    return true;
  }

  /** Marks an adopted, already-running command as this session's current one. */
  resume(run: ExecRun): void {
    this.current = run;
    this.state = "running";
  }

  runFinished(run: ExecRun): void {
    if (this.current !== run) return;
    this.current = null;
    if (run.result?.status === "shell_died") {
      // the shell is going away: nothing is typed until the poll has seen it die and respawned it
      this.exitedWith = run.result.exitCode;
      this.awaitingRespawn = Date.now();
      return;
    }
    if (this.state === "running") this.state = "idle";
    this.pump();
  }

  /** Called by the runner's pane poll. */
  observe(pane: PaneState): void {
    if (pane.tty) this.tty = pane.tty;
    if (!pane.dead) {
      this.deadSince = null;
      // a shell that said it was exiting but lives on (it cannot, but never wait forever) takes commands again
      if (this.awaitingRespawn !== null && Date.now() - this.awaitingRespawn > statusGraceMs) {
        this.awaitingRespawn = null;
        this.pump();
      }
      return;
    }
    if (this.respawning || this.closed) return;
    // tmux may see the terminal close before it has reaped the shell: give the exit status a moment
    this.deadSince ??= Date.now();
    if (pane.deadStatus === null && pane.deadSignal === null && Date.now() - this.deadSince < statusGraceMs) return;
    this.deadSince = null;
    // when tmux closes the terminal first, the pane's process dies of SIGHUP: the command's own status came with its marker
    const status = pane.deadStatus ?? this.exitedWith;
    this.exitedWith = null;
    void this.respawn(`the shell exited with status ${status ?? `unknown (signal ${pane.deadSignal})`}`, status);
  }

  /** Fails every queued and running command: the tmux session is gone. */
  vanish(reason: string): void {
    this.closed = true;
    this.state = "failed";
    this.failure = reason;
    for (const run of this.queue.splice(0)) run.lost(reason);
    this.current?.lost(reason);
  }

  async close(): Promise<void> {
    this.vanish("the session was closed");
    await this.deps.tmux.killSession(this.tmuxName).catch(() => {});
    rmSync(this.ackPath, { force: true });
    this.deps.events.emit({ type: "session.closed", session: this.id });
  }

  private pump(): void {
    if (this.current || this.state !== "idle" || this.respawning || this.awaitingRespawn !== null) return;
    const next = this.queue.shift();
    if (!next) return;
    this.current = next;
    this.state = "running";
    next.start(this.access()).catch((e: unknown) => {
      this.deps.log.error("command start failed", { execId: next.spec.execId, error: e });
      next.lost("the runner failed to start the command");
    });
  }

  private respawn(reason: string, exitStatus: number | null): Promise<void> {
    this.respawning ??= (async () => {
      this.awaitingRespawn = null;
      this.current?.paneDied(exitStatus);
      try {
        await this.deps.tmux.respawn(this.paneId);
        const pane = (await this.deps.tmux.panes()).find((p) => p.paneId === this.paneId);
        if (pane?.tty) this.tty = pane.tty;
        if (pane && !pane.piped) await this.deps.tmux.pipeTo(this.paneId, this.paneLog);
        await this.hello();
        this.state = this.current ? "running" : "idle";
        this.deps.events.emit({ type: "pane.respawned", session: this.id, exitStatus, reason });
        this.deps.log.warn("pane respawned", { session: this.id, reason });
      } catch (e) {
        this.state = "failed";
        this.failure = `could not restart the shell: ${(e as Error).message}`;
        this.deps.log.error("respawn failed", { session: this.id, error: e });
      } finally {
        this.respawning = null;
      }
      this.pump();
    })();
    return this.respawning;
  }

  /** Types ` __pc_hello <nonce>` and waits for the shell to answer: proof that init.sh was sourced. */
  private async hello(): Promise<void> {
    const nonce = randomBytes(8).toString("hex");
    const marker = Buffer.from(helloMarker(nonce), "latin1");
    let carry = Buffer.alloc(0);
    let follower: LogFollower | null = null;
    let timer: NodeJS.Timeout | null = null;
    const seen = new Promise<void>((resolve, reject) => {
      follower = new LogFollower(this.paneLog, statSync(this.paneLog).size, (b) => {
        carry = Buffer.concat([carry, b]);
        if (carry.includes(marker)) resolve();
        else carry = carry.subarray(Math.max(0, carry.length - marker.length));
      }, this.deps.pollMs);
      timer = setTimeout(() => reject(new Error("the shell did not start")), this.deps.readyTimeoutMs);
    });
    try {
      await this.deps.tmux.typeLine(this.paneId, ` __pc_hello ${nonce} ${this.paneNumber}`);
      await seen;
    } catch (e) {
      const screen = await this.deps.tmux.capture(this.paneId).catch(() => "");
      throw new Error(`${(e as Error).message}; the terminal shows: ${screen.trim().slice(-500) || "(nothing)"}`);
    } finally {
      (follower as LogFollower | null)?.stop();
      if (timer) clearTimeout(timer);
    }
  }
}

function makeFifo(path: string): Promise<void> {
  if (existsSync(path)) return Promise.resolve();
  // node has no mkfifo
  return new Promise((resolve, reject) => {
    execFile("mkfifo", ["-m", "600", "--", path], (err, _out, stderr) => (err ? reject(new Error(`mkfifo ${path}: ${String(stderr).trim() || err.message}`)) : resolve()));
  });
}

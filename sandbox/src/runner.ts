// The runner: owns the tmux server, the agent sessions, the grants and the running commands, and
// answers the HTTP layer. On start it adopts a tmux server and commands a previous runner left
// behind, so restarting the runner kills nothing and loses no result.
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkCommand } from "./command-check.ts";
import { EventLog } from "./events.ts";
import { ExecRun, type ExecSink, type RunContext } from "./exec-run.ts";
import { ExecStore } from "./exec-store.ts";
import { GrantStore } from "./grants.ts";
import type { Logger } from "./log.ts";
import { choosePaneCommand, type PaneCommand } from "./pane-command.ts";
import type { CancelResponse, ErrorCode, ExecRequest, Grant, Health, RefusalReason, SessionInfo } from "./protocol.ts";
import { API_VERSION } from "./protocol.ts";
import { AgentSession, BusyError, type SessionDeps } from "./session.ts";
import { initScript } from "./shell-init.ts";
import { Tmux, tmuxConf } from "./tmux.ts";

export interface RunnerSettings {
  workspace: string;
  stateDir: string;
  sandbox: "auto" | "bwrap" | "plain";
  /** PATH inside the panes. */
  path: string;
  defaultTimeoutMs: number;
  noOutputMs: number;
  cancelStepMs: number;
  replyMaxBytes: number;
  queueMax: number;
  historyLimit: number;
  /** How often the log follower polls besides inotify, and the pane-health poll. */
  pollMs: number;
  paneCheckMs: number;
  readyTimeoutMs: number;
  retentionMs: number;
}

export class RunnerError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly exitCode?: number,
  ) {
    super(message);
  }
}

const key = (session: string, callId: string) => `${session}\n${callId}`;
const sha256Of = (command: string) => createHash("sha256").update(command, "utf8").digest("hex");

export class Runner {
  readonly bootId = randomBytes(8).toString("hex");
  private readonly startedAt = Date.now();
  private readonly sessions = new Map<string, AgentSession>();
  private readonly starting = new Map<string, Promise<AgentSession>>();
  private readonly active = new Map<string, ExecRun>();
  private poller: NodeJS.Timeout | null = null;
  private polling = false;

  private constructor(
    readonly settings: RunnerSettings,
    readonly tmux: Tmux,
    readonly paneCommand: PaneCommand,
    readonly events: EventLog,
    private readonly store: ExecStore,
    private readonly grants: GrantStore,
    private readonly ctx: RunContext,
    private readonly sessionDeps: SessionDeps,
    private readonly log: Logger,
  ) {}

  static async start(settings: RunnerSettings, log: Logger): Promise<Runner> {
    const dir = (name: string, mode: number) => {
      const p = join(settings.stateDir, name);
      mkdirSync(p, { recursive: true, mode });
      chmodSync(p, mode);
      return p;
    };
    mkdirSync(settings.stateDir, { recursive: true, mode: 0o700 });
    const runDir = dir("run", 0o755);
    const cmdsDir = dir("run/cmds", 0o755);
    const acksDir = dir("run/acks", 0o755);
    const tmuxDir = dir("tmux", 0o700);
    const logsDir = dir("logs", 0o700);
    const outDir = dir("out", 0o700);
    // the only runner directory a sandboxed shell may write to, and only its own session's folder in
    // it: each running command's output file
    const spoolDir = dir("spool", 0o700);
    const initPath = join(runDir, "init.sh");
    rmSync(initPath, { force: true });
    writeFileSync(initPath, initScript(cmdsDir, acksDir), { mode: 0o444 });
    const confPath = join(tmuxDir, "tmux.conf");
    writeFileSync(confPath, tmuxConf(settings.historyLimit), { mode: 0o600 });

    const paneCommand = await choosePaneCommand(settings.sandbox, { workspace: settings.workspace, runDir, initPath, spoolDir, path: settings.path });
    if (paneCommand.warning) log.warn("sandbox", { mode: paneCommand.mode, warning: paneCommand.warning });
    else log.info("sandbox", { mode: paneCommand.mode });

    // tmux (and so every pane started by a fresh server) sees only this environment: no tokens
    const tmux = new Tmux(join(tmuxDir, "sock"), confPath, { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: settings.workspace, LANG: "C.UTF-8" });
    const events = new EventLog(join(settings.stateDir, "events.jsonl"));
    const store = new ExecStore(join(settings.stateDir, "execs"), settings.retentionMs);
    const grants = new GrantStore(join(settings.stateDir, "grants.json"));
    const timing = { cancelStepMs: settings.cancelStepMs, noOutputMs: settings.noOutputMs, replyMaxBytes: settings.replyMaxBytes, outputEventMs: 1000, pollMs: settings.pollMs };
    const ctx: RunContext = { store, events, grants, timing, cmdsDir, spoolDir, outDir, log: log.child("exec") };
    const sessionDeps: SessionDeps = {
      tmux,
      events,
      log: log.child("session"),
      paneArgv: paneCommand.argv,
      spoolRoot: spoolDir,
      workspace: settings.workspace,
      logsDir,
      acksDir,
      queueMax: settings.queueMax,
      pollMs: settings.pollMs,
      readyTimeoutMs: settings.readyTimeoutMs,
    };
    const runner = new Runner(settings, tmux, paneCommand, events, store, grants, ctx, sessionDeps, log);
    events.emit({ type: "runner.started", bootId: runner.bootId, sandbox: paneCommand.mode, warning: paneCommand.warning });
    await runner.adopt();
    runner.poller = setInterval(() => void runner.checkPanes(), settings.paneCheckMs);
    return runner;
  }

  /** Stops serving; tmux, its sessions and running commands stay for the next runner to adopt. */
  close(): void {
    if (this.poller) clearInterval(this.poller);
    for (const run of this.active.values()) run.suspend();
    this.active.clear();
  }

  health(): Health {
    return {
      ok: true,
      apiVersion: API_VERSION,
      bootId: this.bootId,
      sandbox: this.paneCommand.mode,
      sessions: this.sessions.size,
      running: [...this.sessions.values()].filter((s) => s.current).length,
      uptimeMs: Date.now() - this.startedAt,
    };
  }

  listSessions(): SessionInfo[] {
    return [...this.sessions.values()].map((s) => ({
      session: s.id,
      tmuxSession: s.tmuxName,
      paneId: s.paneId,
      state: s.state,
      queued: s.queued,
      running: s.current ? { execId: s.current.spec.execId, callId: s.current.spec.callId, startedAt: s.current.startedAt ?? "" } : null,
      attach: `tmux -S ${this.tmux.socket} attach -r -t =${s.tmuxName}`,
    }));
  }

  session(id: string): AgentSession | undefined {
    return this.sessions.get(id);
  }

  async ensureSession(id: string): Promise<AgentSession> {
    const existing = this.sessions.get(id);
    if (existing && existing.state !== "failed") return existing;
    const pending = this.starting.get(id);
    if (pending) return pending;
    const creating = (async () => {
      const taken = new Set((await this.tmux.panes()).map((p) => p.session));
      const base = `pc-${id.replace(/^ses_/, "").slice(0, 12)}`;
      let name = base;
      for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
      return AgentSession.create(id, name, this.sessionDeps);
    })();
    this.starting.set(id, creating);
    try {
      const session = await creating;
      this.sessions.set(id, session);
      return session;
    } catch (e) {
      throw new RunnerError("unavailable", `could not start a shell for session ${id}: ${(e as Error).message}`);
    } finally {
      this.starting.delete(id);
    }
  }

  async closeSession(id: string): Promise<boolean> {
    const session = this.sessions.get(id);
    if (!session) return false;
    this.sessions.delete(id);
    await session.close();
    return true;
  }

  /**
   * Records a grant; the session's shell is started now so the command does not wait for it later.
   * With `start`, the command is started (queued) at once and its exec id returned; the shim's exec
   * for the call joins it.
   */
  async addGrant(grant: Grant): Promise<string | null> {
    const start = grant.start;
    if (start) {
      const problem = checkCommand(start.command);
      if (problem) throw new RunnerError(problem.startsWith("command is") ? "too_large" : "bad_request", `start.command: ${problem}`);
      if (sha256Of(start.command) !== grant.sha256) throw new RunnerError("bad_request", "start.command: its sha256 is not the grant's sha256");
    }
    const problem = this.grants.add(grant);
    if (problem) throw new RunnerError(problem.includes("already") ? "conflict" : "bad_request", problem);
    const session = await this.ensureSession(grant.session);
    if (!start) return null;
    const request = { session: grant.session, callId: grant.callId, command: start.command, cwd: grant.cwd, ...(start.timeoutMs ? { timeoutMs: start.timeoutMs } : {}) };
    return this.launch(session, request, grant.sha256, null).spec.execId;
  }

  revokeGrant(session: string, callId: string): boolean {
    return this.grants.revoke(session, callId);
  }

  /**
   * The shim's request. Returns the run the sink is now attached to; throws RunnerError for
   * anything that must not run. Nothing reaches a pane unless every check passed.
   */
  async exec(req: ExecRequest, sink: ExecSink): Promise<ExecRun> {
    const problem = checkCommand(req.command);
    if (problem) throw new RunnerError(problem.startsWith("command is") ? "too_large" : "bad_request", problem);
    const sha256 = sha256Of(req.command);
    const claim = { session: req.session, callId: req.callId, sha256, cwd: req.cwd };

    const earlier = this.active.get(key(req.session, req.callId));
    const record = this.store.forCall(req.session, req.callId);
    if (req.resumeFrom !== undefined) {
      if (earlier && earlier.spec.sha256 === sha256) {
        earlier.attach(sink, req.resumeFrom);
        return earlier;
      }
      if (record?.result && record.sha256 === sha256) {
        const done = ExecRun.finishedFrom(record, record.result, this.ctx);
        done.attach(sink, req.resumeFrom);
        return done;
      }
    }
    if (earlier || record) {
      // started by the bot with the grant: the shim joins it once, from its first byte
      const queued = earlier?.phase === "queued" && earlier.spec.startedByBot === true;
      const joined = this.grants.join(claim, earlier?.spec.execId ?? record!.execId, queued);
      if (!joined.ok) this.refuse(claim, joined.reason, joined.message);
      const run = earlier ?? (record?.result ? ExecRun.finishedFrom(record, record.result, this.ctx) : null);
      if (!run) this.refuse(claim, "replayed", `call ${req.callId} was already run`);
      run.attach(sink, 0);
      return run;
    }

    const session = this.sessions.get(req.session) ?? (await this.starting.get(req.session)?.catch(() => undefined));
    if (!session) this.refuse(claim, "unknown_session", `unknown session ${req.session}`, "unknown_session");
    if (session.state === "failed") throw new RunnerError("unavailable", `session ${req.session} has no working shell: ${session.failure}`, 126);
    const verdict = this.grants.check(claim);
    if (!verdict.ok) this.refuse(claim, verdict.reason, verdict.message);

    return this.launch(session, req, sha256, sink);
  }

  /** Queues a granted command in its session; `sink` is the caller, or null when the bot started it. */
  private launch(session: AgentSession, req: ExecRequest, sha256: string, sink: ExecSink | null): ExecRun {
    const execId = randomBytes(8).toString("hex");
    const timeoutMs = req.timeoutMs ?? this.settings.defaultTimeoutMs;
    const spec = { execId, session: req.session, callId: req.callId, sha256, cwd: req.cwd, timeoutMs, startedByBot: sink === null };
    const run = new ExecRun(spec, req.command, this.ctx, (r) => this.finished(r));
    if (sink) run.attach(sink, 0);
    try {
      session.enqueue(run);
    } catch (e) {
      if (e instanceof BusyError) throw new RunnerError("busy", e.message, 126);
      throw e;
    }
    if (run.phase !== "finished") this.active.set(key(req.session, req.callId), run);
    return run;
  }

  /** Cancels a call (or whatever runs in the session now). */
  cancel(session: string, callId: string | undefined, by: "bot" | "shim" | "disconnect"): CancelResponse {
    const s = this.sessions.get(session);
    const run = callId ? this.active.get(key(session, callId)) : s?.current ?? undefined;
    if (!run || run.phase === "finished") return { cancelled: false, execId: null, state: "none" };
    const state = run.phase;
    if (state === "queued") s?.dequeue(run);
    void run.cancel(by);
    return { cancelled: true, execId: run.spec.execId, state };
  }

  execRecord(execId: string) {
    return this.store.get(execId);
  }

  private refuse(claim: { session: string; callId: string; sha256: string; cwd: string }, reason: RefusalReason, message: string, code: ErrorCode = "refused"): never {
    this.events.emit({ type: "exec.refused", ...claim, reason, message });
    this.log.warn("exec refused", { session: claim.session, callId: claim.callId, reason });
    throw new RunnerError(code, `${message}; the command did not run`, 126);
  }

  private finished(run: ExecRun): void {
    const k = key(run.spec.session, run.spec.callId);
    if (this.active.get(k) === run) this.active.delete(k);
    this.sessions.get(run.spec.session)?.runFinished(run);
  }

  private async adopt(): Promise<void> {
    if (await this.tmux.serverRunning()) {
      for (const pane of await this.tmux.panes()) {
        if (!pane.agentSession) continue;
        this.sessions.set(pane.agentSession, await AgentSession.adopt(pane, this.sessionDeps));
      }
    } else {
      await this.tmux.startServer();
    }
    const inflight: string[] = [];
    for (const record of this.store.running()) {
      const session = this.sessions.get(record.session);
      const run = new ExecRun(record, null, this.ctx, (r) => this.finished(r));
      inflight.push(record.execId);
      if (session && session.paneId === record.paneId) {
        this.active.set(key(record.session, record.callId), run);
        session.resume(run);
        run.adopt(record, session.access());
      } else {
        run.adopt(record, null);
      }
    }
    this.events.emit({ type: "runner.adopted", sessions: [...this.sessions.keys()], inflight });
    this.log.info("adopted", { sessions: this.sessions.size, inflight: inflight.length });
    await this.checkPanes();
  }

  private async checkPanes(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const panes = await this.tmux.panes();
      for (const session of this.sessions.values()) {
        const pane = panes.find((p) => p.paneId === session.paneId);
        if (pane) session.observe(pane);
        else if (session.state !== "failed") {
          this.log.warn("tmux session vanished", { session: session.id });
          session.vanish("its tmux session was closed outside the runner");
          this.sessions.delete(session.id);
          this.events.emit({ type: "session.closed", session: session.id });
        }
      }
      this.grants.prune();
      this.store.prune();
    } catch (e) {
      this.log.error("pane check failed", { error: e });
    } finally {
      this.polling = false;
    }
  }
}

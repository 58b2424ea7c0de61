// One approved command from queue to result: consume the grant, hand the bytes over as a read-only
// file, type the trigger, follow the pane log between the command's markers, and report. Output goes
// three ways: the full bytes to a per-command log (size + sha256), text to connected shims, and a
// head+tail copy for the result. Timeouts and cancels climb the interrupt ladder (notes A3).
import { createHash, type Hash } from "node:crypto";
import { closeSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { EventLog } from "./events.ts";
import type { ExecRecord, ExecStore } from "./exec-store.ts";
import type { GrantCheck, GrantStore } from "./grants.ts";
import { HeadTail } from "./head-tail.ts";
import { LogFollower } from "./log-follower.ts";
import type { Logger } from "./log.ts";
import { MarkerScanner } from "./marker-scanner.ts";
import { foregroundGroup } from "./proc-stat.ts";
import type { CancelStep, ExecResult, ExecStarted, ExecStatus, RefusalReason } from "./protocol.ts";
import { TerminalText } from "./terminal-text.ts";
import type { Tmux } from "./tmux.ts";

/** A connected caller (the shim's HTTP stream). */
export interface ExecSink {
  started(info: ExecStarted): void;
  output(text: Buffer): void;
  notice(line: string): void;
  result(result: ExecResult): void;
}

export interface ExecTiming {
  cancelStepMs: number;
  noOutputMs: number;
  replyMaxBytes: number;
  outputEventMs: number;
  pollMs: number;
}

/** What a run needs from the session whose pane it uses. */
export interface PaneAccess {
  tmux: Tmux;
  paneId: string;
  tmuxSession: string;
  paneLog: string;
  panePid(): Promise<number | null>;
  /** Kills and restarts the pane's shell: the last step of the ladder. */
  respawn(reason: string): Promise<void>;
}

export interface RunContext {
  store: ExecStore;
  events: EventLog;
  grants: GrantStore;
  timing: ExecTiming;
  cmdsDir: string;
  outDir: string;
  log: Logger;
}

export interface ExecSpec {
  execId: string;
  session: string;
  callId: string;
  sha256: string;
  cwd: string;
  timeoutMs: number;
}

type CancelBy = "bot" | "shim" | "timeout" | "disconnect";
const emptySha = createHash("sha256").digest("hex");
const liveTextMax = 4096;

export class ExecRun {
  private state: "queued" | "running" | "finished" = "queued";
  private outcome: ExecResult | null = null;
  private record: ExecRecord | null = null;
  private readonly sinks = new Set<ExecSink>();
  private pane: PaneAccess | null = null;
  private follower: LogFollower | null = null;
  private scanner: MarkerScanner;
  private outFd: number | null = null;
  private hash: Hash = createHash("sha256");
  private rawBytes = 0;
  private text = new TerminalText();
  private textBytes = 0;
  private headTail: HeadTail;
  private liveText: Buffer[] = [];
  private liveTimer: NodeJS.Timeout | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private silenceTimer: NodeJS.Timeout | null = null;
  private silentSince = Date.now();
  private laddering = false;
  private finishedResolve!: () => void;
  readonly finished = new Promise<void>((r) => (this.finishedResolve = r));
  private begunResolve!: () => void;
  /** Resolves when the shell has printed the BEGIN marker: the trigger line was read and the command runs. */
  private readonly begun = new Promise<void>((r) => (this.begunResolve = r));

  constructor(
    readonly spec: ExecSpec,
    private readonly command: string | null,
    private readonly ctx: RunContext,
    private readonly onFinished: (run: ExecRun) => void,
  ) {
    this.scanner = this.newScanner();
    this.headTail = new HeadTail(ctx.timing.replyMaxBytes);
  }

  /** A finished run rebuilt from its record, to answer a reconnecting caller. */
  static finishedFrom(record: ExecRecord, result: ExecResult, ctx: RunContext): ExecRun {
    const run = new ExecRun(record, null, ctx, () => {});
    run.record = record;
    run.state = "finished";
    run.outcome = result;
    return run;
  }

  get phase(): "queued" | "running" | "finished" {
    return this.state;
  }

  get result(): ExecResult | null {
    return this.outcome;
  }

  get startedAt(): string | null {
    return this.record?.startedAt ?? null;
  }

  get logPath(): string {
    return join(this.ctx.outDir, `${this.spec.execId}.log`);
  }

  /** Dequeued: runs the command in `pane`. */
  async start(pane: PaneAccess): Promise<void> {
    const { spec, ctx } = this;
    const verdict: GrantCheck = ctx.grants.consume(spec, spec.execId);
    if (!verdict.ok) return this.refuse(verdict.reason, verdict.message);
    if (this.command === null) throw new Error("start() needs the command text");
    // the shell reads these; mode 0444 in a directory the sandbox sees read-only
    writeFileSync(join(ctx.cmdsDir, `${spec.execId}.sh`), this.command, { mode: 0o444 });
    writeFileSync(join(ctx.cmdsDir, `${spec.execId}.cwd`), spec.cwd, { mode: 0o444 });
    const startedAt = new Date().toISOString();
    this.record = {
      ...spec,
      tmuxSession: pane.tmuxSession,
      paneId: pane.paneId,
      paneLog: pane.paneLog,
      logStart: statSync(pane.paneLog).size,
      logPath: this.logPath,
      startedAt,
      deadline: Date.now() + spec.timeoutMs,
      timedOut: false,
      cancelledBy: null,
      result: null,
    };
    ctx.store.save(this.record);
    this.begin(pane);
    ctx.events.emit({ type: "exec.started", session: spec.session, callId: spec.callId, execId: spec.execId, sha256: spec.sha256, cwd: spec.cwd, timeoutMs: spec.timeoutMs, logPath: this.logPath });
    try {
      await pane.tmux.typeLine(pane.paneId, ` __r ${spec.execId}`);
    } catch (e) {
      ctx.log.error("could not type the trigger", { execId: spec.execId, error: e });
      this.finish("lost", null, null, "pocketcoder: the runner could not reach the session's terminal; the command did not start");
    }
  }

  /** After a runner restart: follow a command that was already typed, from its recorded log offset. */
  adopt(record: ExecRecord, pane: PaneAccess | null): void {
    this.record = record;
    if (!pane) {
      this.state = "running";
      this.finish("lost", null, null, "pocketcoder: the command's terminal was gone when the runner restarted");
      return;
    }
    this.begin(pane);
    if (record.cancelledBy) void this.cancel(record.cancelledBy as CancelBy);
  }

  /** The runner is shutting down: stop following, keep the command running and its record open for the next runner. */
  suspend(): void {
    this.follower?.stop();
    for (const t of [this.deadlineTimer, this.silenceTimer, this.liveTimer]) if (t) clearTimeout(t);
    if (this.outFd !== null) closeSync(this.outFd);
    this.outFd = null;
    this.sinks.clear();
  }

  attach(sink: ExecSink, resumeFrom: number): void {
    if (this.state === "finished") {
      this.replay(sink, resumeFrom, true);
      sink.result(this.outcome!);
      return;
    }
    if (this.state === "running" && this.record) {
      sink.started({ execId: this.spec.execId, startedAt: this.record.startedAt, logPath: this.logPath });
      this.replay(sink, resumeFrom, false);
    }
    this.sinks.add(sink);
  }

  /** Returns how many callers are still connected. */
  detach(sink: ExecSink): number {
    this.sinks.delete(sink);
    return this.sinks.size;
  }

  /** Stops a queued run at once; climbs the interrupt ladder for a running one. */
  async cancel(by: CancelBy): Promise<void> {
    if (this.state === "queued") {
      this.finish("cancelled", null, null, "pocketcoder: cancelled before it started");
      return;
    }
    if (this.state !== "running" || this.laddering || !this.pane || !this.record) return;
    this.laddering = true;
    if (!this.record.cancelledBy) {
      this.record.cancelledBy = by;
      this.ctx.store.save(this.record);
    }
    const pane = this.pane;
    // a Ctrl-C that reaches readline before it has read the trigger line would discard the line, and with it the end marker
    await Promise.race([this.begun, this.finished, new Promise((r) => setTimeout(r, this.ctx.timing.cancelStepMs))]);
    const steps: [CancelStep, () => Promise<number | null>][] = [
      ["interrupt", async () => (await pane.tmux.interrupt(pane.paneId), null)],
      ["terminate", () => this.signalForeground("SIGTERM")],
      ["kill", () => this.signalForeground("SIGKILL")],
    ];
    for (const [step, act] of steps) {
      if (this.phase === "finished") return;
      const pgid = await act().catch((e: unknown) => (this.ctx.log.warn("cancel step failed", { step, error: e }), null));
      this.emitCancel(step, by, pgid);
      if (await this.finishedWithin(this.ctx.timing.cancelStepMs)) return;
    }
    if (this.phase === "finished") return;
    this.emitCancel("respawn", by, null);
    await pane.respawn(`the command ${this.spec.execId} did not stop after Ctrl-C, SIGTERM and SIGKILL`);
  }

  /** The pane's shell exited (e.g. `exit 3`, `set -e`, or the ladder's last step): the command ended with it. */
  paneDied(status: number | null): void {
    if (this.state !== "running") return;
    this.follower?.drain();
    this.scanner.flush();
    const stopped: ExecStatus | null = this.record?.timedOut ? "timed_out" : this.record?.cancelledBy ? "cancelled" : null;
    this.finish(stopped ?? "shell_died", status, null, `pocketcoder: the shell ${stopped ? "was restarted" : `exited with status ${status ?? "unknown"}`}; its state (cwd, variables) was reset`);
  }

  /** The session is gone (tmux session killed, or lost across a restart). */
  lost(reason: string): void {
    if (this.state === "finished") return;
    this.finish("lost", null, null, `pocketcoder: ${reason}`);
  }

  private begin(pane: PaneAccess): void {
    const record = this.record!;
    this.pane = pane;
    this.state = "running";
    this.outFd = openSync(this.logPath, "w", 0o600);
    const started: ExecStarted = { execId: this.spec.execId, startedAt: record.startedAt, logPath: this.logPath };
    for (const s of this.sinks) s.started(started);
    this.follower = new LogFollower(pane.paneLog, record.logStart, (b) => this.scanner.push(b), this.ctx.timing.pollMs);
    const remaining = record.deadline - Date.now();
    this.deadlineTimer = setTimeout(() => this.onDeadline(), Math.max(0, remaining));
    this.armSilence();
  }

  private newScanner(): MarkerScanner {
    return new MarkerScanner(this.spec.execId, {
      begin: () => this.begunResolve(),
      output: (bytes) => this.onOutput(bytes),
      end: (code, cwd, shellExited) => {
        const status: ExecStatus = this.record?.timedOut ? "timed_out" : this.record?.cancelledBy ? "cancelled" : shellExited ? "shell_died" : "exited";
        this.finish(status, code, cwd, shellExited ? `pocketcoder: the command exited the shell (status ${code}); a fresh shell replaces it, so cwd and variables were reset` : null);
      },
    });
  }

  private onOutput(bytes: Buffer): void {
    writeSync(this.outFd!, bytes);
    this.hash.update(bytes);
    this.rawBytes += bytes.length;
    this.pushText(this.text.push(bytes));
    this.armSilence();
  }

  private pushText(text: Buffer): void {
    if (text.length === 0) return;
    this.textBytes += text.length;
    this.headTail.push(text);
    for (const s of this.sinks) s.output(text);
    this.liveText.push(text);
    let kept = this.liveText.reduce((n, b) => n + b.length, 0);
    while (this.liveText.length > 1 && kept - this.liveText[0]!.length >= liveTextMax) kept -= this.liveText.shift()!.length;
    this.liveTimer ??= setTimeout(() => this.emitLive(), this.ctx.timing.outputEventMs);
  }

  private emitLive(): void {
    this.liveTimer = null;
    if (this.liveText.length === 0) return;
    const joined = Buffer.concat(this.liveText);
    this.liveText = [];
    const { session, callId, execId } = this.spec;
    this.ctx.events.emit({ type: "exec.output", session, callId, execId, outputBytes: this.rawBytes, text: joined.subarray(-liveTextMax).toString("utf8") });
  }

  /** Sends a late or reconnecting caller the text it has not seen, rebuilt from the full log. */
  private replay(sink: ExecSink, from: number, ended: boolean): void {
    if (this.rawBytes === 0 && !ended) return;
    if (from >= this.textBytes && !ended) return;
    let raw: Buffer;
    try {
      raw = readFileSync(this.logPath).subarray(0, ended ? undefined : this.rawBytes);
    } catch {
      return;
    }
    const t = new TerminalText();
    const text = ended ? Buffer.concat([t.push(raw), t.end()]) : t.push(raw);
    if (text.length > from) sink.output(text.subarray(from));
  }

  private armSilence(): void {
    this.silentSince = Date.now();
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => void this.onSilence(), this.ctx.timing.noOutputMs);
  }

  private async onSilence(): Promise<void> {
    if (this.state !== "running" || !this.pane) return;
    const screen = await this.pane.tmux.capture(this.pane.paneId).catch(() => "");
    if (this.state !== "running") return;
    const { session, callId, execId } = this.spec;
    const lines = screen.replace(/\s+$/, "").split("\n").slice(-20).join("\n");
    this.ctx.events.emit({ type: "exec.no_output", session, callId, execId, silentMs: Date.now() - this.silentSince, screen: lines });
    this.silenceTimer = setTimeout(() => void this.onSilence(), this.ctx.timing.noOutputMs);
  }

  private onDeadline(): void {
    if (this.state !== "running" || !this.record) return;
    this.record.timedOut = true;
    this.ctx.store.save(this.record);
    const { session, callId, execId, timeoutMs } = this.spec;
    this.ctx.events.emit({ type: "exec.timeout", session, callId, execId, timeoutMs });
    for (const s of this.sinks) s.notice(`pocketcoder: the command exceeded its time limit of ${Math.round(timeoutMs / 1000)} s and is being stopped`);
    void this.cancel("timeout");
  }

  private async signalForeground(signal: NodeJS.Signals): Promise<number | null> {
    const pid = await this.pane!.panePid();
    const pgid = pid === null ? null : foregroundGroup(pid);
    if (pgid !== null && pgid !== pid) {
      try {
        process.kill(-pgid, signal);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
      }
    }
    return pgid;
  }

  private emitCancel(step: CancelStep, by: CancelBy, pgid: number | null): void {
    const { session, callId, execId } = this.spec;
    this.ctx.events.emit({ type: "exec.cancel", session, callId, execId, step, by, pgid });
    for (const s of this.sinks) s.notice(`pocketcoder: stopping the command (${step})`);
  }

  private finishedWithin(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.state === "finished"), ms);
      void this.finished.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private refuse(reason: RefusalReason, message: string): void {
    const { session, callId, sha256, cwd } = this.spec;
    this.ctx.events.emit({ type: "exec.refused", session, callId, reason, message, sha256, cwd });
    this.finish("refused", 126, null, `pocketcoder: refused: ${message}; the command did not run`);
  }

  private finish(status: ExecStatus, exitCode: number | null, cwd: string | null, notice: string | null): void {
    if (this.state === "finished") return;
    const wasRunning = this.state === "running";
    this.state = "finished";
    this.follower?.stop();
    for (const t of [this.deadlineTimer, this.silenceTimer, this.liveTimer]) if (t) clearTimeout(t);
    this.pushText(this.text.end());
    if (this.liveTimer) clearTimeout(this.liveTimer);
    this.emitLive();
    if (this.outFd !== null) closeSync(this.outFd);
    const finishedAt = new Date().toISOString();
    const startedAt = this.record?.startedAt ?? null;
    const { execId, session, callId } = this.spec;
    this.outcome = {
      execId,
      session,
      callId,
      status,
      exitCode,
      durationMs: startedAt ? Math.max(0, Date.parse(finishedAt) - Date.parse(startedAt)) : 0,
      cwd,
      outputBytes: this.rawBytes,
      outputSha256: wasRunning ? this.hash.digest("hex") : emptySha,
      ...this.headTail.text(),
      logPath: wasRunning ? this.logPath : null,
      startedAt,
      finishedAt,
    };
    if (this.record) {
      this.record.result = this.outcome;
      this.ctx.store.save(this.record);
      rmSync(join(this.ctx.cmdsDir, `${execId}.sh`), { force: true });
      rmSync(join(this.ctx.cmdsDir, `${execId}.cwd`), { force: true });
    }
    if (status !== "refused") this.ctx.events.emit({ type: "exec.finished", session, callId, execId, result: this.outcome });
    for (const s of this.sinks) {
      if (notice) s.notice(notice);
      s.result(this.outcome);
    }
    this.sinks.clear();
    this.finishedResolve();
    this.onFinished(this);
  }
}

// One approved command from queue to result: consume the grant, hand the bytes over as a read-only
// file, type the trigger, and follow two files: the pane log for the command's BEGIN and END markers,
// and the command's output file (the shell points its stdout and stderr there, see shell-init.ts).
// The output goes four ways: hashed whole (size + sha256; the file becomes the full log), as text to
// connected shims, as a head+tail copy for the result, and as a display copy into the pane. Timeouts
// and cancels climb the interrupt ladder (notes A3).
import { createHash, type Hash } from "node:crypto";
import { closeSync, constants, existsSync, openSync, readSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EventLog } from "./events.ts";
import type { ExecRecord, ExecStore } from "./exec-store.ts";
import type { GrantCheck, GrantStore } from "./grants.ts";
import { HeadTail } from "./head-tail.ts";
import { LogFollower } from "./log-follower.ts";
import type { Logger } from "./log.ts";
import { MarkerScanner } from "./marker-scanner.ts";
import { PaneDisplay } from "./pane-display.ts";
import { openRegularFile } from "./regular-file.ts";
import { foregroundGroup } from "./proc-stat.ts";
import type { CancelStep, ExecResult, ExecStarted, ExecStatus, RefusalReason } from "./protocol.ts";
import { TerminalText } from "./terminal-text.ts";
import type { Tmux } from "./tmux.ts";

/** A connected caller (the shim's HTTP stream). */
export interface ExecSink {
  started(info: ExecStarted): void;
  /** False when the caller is behind: the run stops reading output until `whenWritable` calls back. */
  output(text: Buffer): boolean;
  /** Calls back once when the caller can take more output, or has gone away. */
  whenWritable(callback: () => void): void;
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
  /** The pane's terminal device, for the display copy. */
  paneTty(): string;
  panePid(): Promise<number | null>;
  /** Kills and restarts the pane's shell: the last step of the ladder. */
  respawn(reason: string): Promise<void>;
  /** Tells the shell the command's output has been shown in the pane: it may draw its prompt. */
  ack(execId: string): void;
}

export interface RunContext {
  store: ExecStore;
  events: EventLog;
  grants: GrantStore;
  timing: ExecTiming;
  cmdsDir: string;
  /** Output files of running commands, one folder per session; each session's shell writes to its own. */
  spoolDir: string;
  /** Full logs of finished commands, moved here out of the sandbox's reach. */
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
  /** Started by the bot with its grant, before any caller asked (Grant.start). */
  startedByBot?: boolean;
}

type CancelBy = "bot" | "shim" | "timeout" | "disconnect";
const emptySha = createHash("sha256").digest("hex");
const liveTextMax = 4096;
const replayChunk = 1 << 20;

/** How a command ended, known from its END marker (or its shell's death) before all its output was delivered. */
interface Ending {
  status: ExecStatus;
  exitCode: number | null;
  cwd: string | null;
  notice: string | null;
}

export class ExecRun {
  private state: "queued" | "running" | "finished" = "queued";
  private outcome: ExecResult | null = null;
  private record: ExecRecord | null = null;
  private readonly sinks = new Set<ExecSink>();
  private pane: PaneAccess | null = null;
  /** Follows the pane log for the markers. */
  private markers: LogFollower | null = null;
  private scanner: MarkerScanner;
  /** Follows the command's output file. */
  private output: LogFollower | null = null;
  private display: PaneDisplay | null = null;
  /** Output bytes before this offset were already shown in the pane (by a runner before a restart). */
  private shownFrom = 0;
  /** Callers that are behind; output is read again when none is. */
  private readonly held = new Set<ExecSink>();
  private ending: Ending | null = null;
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
  private endedResolve!: () => void;
  /** Resolves when the command has ended (its output may still be on its way to the callers). */
  private readonly ended = new Promise<void>((r) => (this.endedResolve = r));

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

  private get outPath(): string {
    return this.record?.outPath ?? join(this.ctx.spoolDir, this.spec.session, `${this.spec.execId}.out`);
  }

  /** Dequeued: runs the command in `pane`. */
  async start(pane: PaneAccess): Promise<void> {
    const { spec, ctx } = this;
    const verdict: GrantCheck = ctx.grants.consume(spec, spec.execId, spec.startedByBot === true);
    if (!verdict.ok) return this.refuse(verdict.reason, verdict.message);
    if (this.command === null) throw new Error("start() needs the command text");
    // the shell reads these; mode 0444 in a directory the sandbox sees read-only
    writeFileSync(join(ctx.cmdsDir, `${spec.execId}.sh`), this.command, { mode: 0o444 });
    writeFileSync(join(ctx.cmdsDir, `${spec.execId}.cwd`), spec.cwd, { mode: 0o444 });
    // the shell appends to it; made here so that it exists, is the runner's and is not a symlink
    closeSync(openSync(this.outPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
    const startedAt = new Date().toISOString();
    this.record = {
      ...spec,
      tmuxSession: pane.tmuxSession,
      paneId: pane.paneId,
      paneLog: pane.paneLog,
      logStart: statSync(pane.paneLog).size,
      outPath: this.outPath,
      outConsumed: 0,
      logPath: this.logPath,
      startedAt,
      deadline: Date.now() + spec.timeoutMs,
      timedOut: false,
      cancelledBy: null,
      result: null,
    };
    ctx.store.save(this.record);
    this.begin(pane);
    if (this.state !== "running") return;
    ctx.events.emit({ type: "exec.started", session: spec.session, callId: spec.callId, execId: spec.execId, sha256: spec.sha256, cwd: spec.cwd, timeoutMs: spec.timeoutMs, logPath: this.logPath });
    try {
      await pane.tmux.typeLine(pane.paneId, ` __r ${spec.execId}`);
    } catch (e) {
      ctx.log.error("could not type the trigger", { execId: spec.execId, error: e });
      this.finish("lost", null, null, "pocketcoder: the runner could not reach the session's terminal; the command did not start");
    }
  }

  /**
   * After a runner restart: follow a command that was already typed, from its recorded pane-log offset.
   * Its output file is read again from the start (the hash needs every byte; reading is fast).
   */
  adopt(record: ExecRecord, pane: PaneAccess | null): void {
    // a runner stopped between moving the output file and saving the result left it at the log path
    if (!existsSync(record.outPath) && existsSync(record.logPath)) record.outPath = record.logPath;
    this.record = record;
    this.shownFrom = record.outConsumed;
    if (!pane) {
      this.state = "running";
      this.output = this.follow(record.outPath);
      this.finish("lost", null, null, "pocketcoder: the command's terminal was gone when the runner restarted");
      return;
    }
    this.begin(pane);
    if (record.cancelledBy) void this.cancel(record.cancelledBy as CancelBy);
  }

  /** The runner is shutting down: stop following, keep the command running and its record open for the next runner. */
  suspend(): void {
    this.markers?.stop();
    this.output?.stop();
    for (const t of [this.deadlineTimer, this.silenceTimer, this.liveTimer]) if (t) clearTimeout(t);
    this.display?.close(false);
    this.saveConsumed();
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
    this.release(sink);
    return this.sinks.size;
  }

  /** Stops a queued run at once; climbs the interrupt ladder for a running one. */
  async cancel(by: CancelBy): Promise<void> {
    if (this.state === "queued") {
      this.finish("cancelled", null, null, "pocketcoder: cancelled before it started");
      return;
    }
    // the command has ended and only its output is on its way: stop waiting for callers that read slowly
    if (this.state === "running" && this.ending) return this.finishEnded();
    if (this.state !== "running" || this.laddering || !this.pane || !this.record) return;
    this.laddering = true;
    if (!this.record.cancelledBy) {
      this.record.cancelledBy = by;
      this.ctx.store.save(this.record);
    }
    const pane = this.pane;
    // a Ctrl-C that reaches readline before it has read the trigger line would discard the line, and with it the end
    // marker; a shell that has not begun the command after the whole ladder's time is stuck, and only a respawn helps
    const begun = await Promise.race([
      this.begun.then(() => true),
      this.finished.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 3 * this.ctx.timing.cancelStepMs)),
    ]);
    if (this.phase === "finished") return;
    if (!begun) {
      this.emitCancel("respawn", by, null);
      await pane.respawn(`the shell had not begun the command ${this.spec.execId} when it was cancelled`);
      return;
    }
    const steps: [CancelStep, NodeJS.Signals | null][] = [
      ["interrupt", null],
      ["terminate", "SIGTERM"],
      ["kill", "SIGKILL"],
    ];
    for (const [step, signal] of steps) {
      if (this.hasEnded()) return;
      try {
        const target = signal ? await this.foreground() : null;
        // announced before it is taken: the command may end, and be reported, before the step's own call returns
        this.emitCancel(step, by, target?.pgid ?? null);
        if (!signal) await pane.tmux.interrupt(pane.paneId);
        else if (target?.signalable) signalGroup(target.pgid, signal);
      } catch (e) {
        this.ctx.log.warn("cancel step failed", { step, error: e });
      }
      if (await this.finishedWithin(this.ctx.timing.cancelStepMs)) return;
    }
    if (this.hasEnded()) return;
    this.emitCancel("respawn", by, null);
    await pane.respawn(`the command ${this.spec.execId} did not stop after Ctrl-C, SIGTERM and SIGKILL`);
  }

  /** The pane's shell exited (e.g. `exit 3`, `set -e`, or the ladder's last step): the command ended with it. */
  paneDied(status: number | null): void {
    if (this.state !== "running") return;
    // finished now, whatever the callers still have to read: the session waits for this before it respawns
    if (this.ending) return this.finishEnded();
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
    const started: ExecStarted = { execId: this.spec.execId, startedAt: record.startedAt, logPath: this.logPath };
    for (const s of this.sinks) s.started(started);
    this.output = this.follow(record.outPath);
    if (!this.output) {
      this.finish("lost", null, null, `pocketcoder: the command's output file ${record.outPath} is gone or not a regular file`);
      return;
    }
    this.display = PaneDisplay.open(pane.paneTty(), this.logPath);
    this.markers = new LogFollower(pane.paneLog, record.logStart, (b) => this.scanner.push(b), this.ctx.timing.pollMs);
    const remaining = record.deadline - Date.now();
    this.deadlineTimer = setTimeout(() => this.onDeadline(), Math.max(0, remaining));
    this.armSilence();
  }

  private follow(path: string): LogFollower | null {
    try {
      return new LogFollower(path, 0, (b) => this.consume(b), this.ctx.timing.pollMs);
    } catch (e) {
      this.ctx.log.error("cannot read the command's output file", { execId: this.spec.execId, error: e });
      return null;
    }
  }

  private newScanner(): MarkerScanner {
    return new MarkerScanner(this.spec.execId, {
      begin: () => this.begunResolve(),
      end: (code, cwd, shellExited) => {
        const status: ExecStatus = this.record?.timedOut ? "timed_out" : this.record?.cancelledBy ? "cancelled" : shellExited ? "shell_died" : "exited";
        const notice = shellExited ? `pocketcoder: the command exited the shell (status ${code}); a fresh shell replaces it, so cwd and variables were reset` : null;
        this.end({ status, exitCode: code, cwd, notice });
      },
    });
  }

  /** The END marker came: everything the command wrote is in its file now; deliver that much, then finish. */
  private end(ending: Ending): void {
    this.ending = ending;
    this.endedResolve();
    this.markers?.stop();
    // a background job may write on: what came after the marker is not this command's output
    if (this.output) this.output.stopAt(this.output.size(), () => this.finishEnded());
    else this.finishEnded();
  }

  /** Finishes an ended command now: what callers have not read yet is queued for them at once. */
  private finishEnded(): void {
    const e = this.ending!;
    this.finish(e.status, e.exitCode, e.cwd, e.notice);
  }

  private consume(bytes: Buffer): void {
    const at = this.rawBytes;
    this.hash.update(bytes);
    this.rawBytes += bytes.length;
    const skip = this.shownFrom - at;
    if (skip < bytes.length) this.display?.write(skip > 0 ? bytes.subarray(skip) : bytes);
    this.pushText(this.text.push(bytes));
    if (this.state === "running") this.armSilence();
  }

  private pushText(text: Buffer): void {
    if (text.length === 0) return;
    this.textBytes += text.length;
    this.headTail.push(text);
    for (const s of this.sinks) if (!s.output(text)) this.hold(s);
    this.liveText.push(text);
    let kept = this.liveText.reduce((n, b) => n + b.length, 0);
    while (this.liveText.length > 1 && kept - this.liveText[0]!.length >= liveTextMax) kept -= this.liveText.shift()!.length;
    this.liveTimer ??= setTimeout(() => this.emitLive(), this.ctx.timing.outputEventMs);
  }

  /** A caller fell behind: stop reading output until every caller has caught up. */
  private hold(sink: ExecSink): void {
    if (this.held.has(sink)) return;
    this.held.add(sink);
    this.output?.pause();
    sink.whenWritable(() => this.release(sink));
  }

  private release(sink: ExecSink): void {
    if (this.held.delete(sink) && this.held.size === 0) this.output?.resume();
  }

  private emitLive(): void {
    this.liveTimer = null;
    if (this.liveText.length === 0) return;
    const joined = Buffer.concat(this.liveText);
    this.liveText = [];
    const { session, callId, execId } = this.spec;
    this.ctx.events.emit({ type: "exec.output", session, callId, execId, outputBytes: this.rawBytes, text: joined.subarray(-liveTextMax).toString("utf8") });
    if (this.state === "running") this.saveConsumed();
  }

  private saveConsumed(): void {
    if (!this.record || this.record.result || this.rawBytes <= this.record.outConsumed) return;
    this.record.outConsumed = this.rawBytes;
    this.ctx.store.save(this.record);
  }

  /** Sends a late or reconnecting caller the text from `from` on, rebuilt from the output file. */
  private replay(sink: ExecSink, from: number, ended: boolean): void {
    if (from >= this.textBytes && !ended) return;
    const path = ended ? this.outcome?.logPath : this.record?.outPath;
    const upTo = ended ? (this.outcome?.outputBytes ?? 0) : this.rawBytes;
    if (!path || upTo === 0) return;
    const fd = openRegularFile(path);
    if (fd === null) return;
    const t = new TerminalText();
    let at = 0;
    const send = (text: Buffer) => {
      const skip = from - at;
      at += text.length;
      if (skip < text.length) sink.output(skip > 0 ? text.subarray(skip) : text);
    };
    try {
      for (let pos = 0; pos < upTo; ) {
        // a fresh buffer each time: the sink may hold on to what it is given
        const buf = Buffer.allocUnsafe(Math.min(replayChunk, upTo - pos));
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) break;
        pos += n;
        send(t.push(buf.subarray(0, n)));
      }
      if (ended) send(t.end());
    } finally {
      closeSync(fd);
    }
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
    // it ended in time; its output still on its way to a slow caller does not hold the session any longer
    if (this.ending) return this.finishEnded();
    this.record.timedOut = true;
    this.ctx.store.save(this.record);
    const { session, callId, execId, timeoutMs } = this.spec;
    this.ctx.events.emit({ type: "exec.timeout", session, callId, execId, timeoutMs });
    for (const s of this.sinks) s.notice(`pocketcoder: the command exceeded its time limit of ${Math.round(timeoutMs / 1000)} s and is being stopped`);
    void this.cancel("timeout");
  }

  /** The pane's foreground process group; signalable unless it is the shell's own. */
  private async foreground(): Promise<{ pgid: number; signalable: boolean } | null> {
    const pid = await this.pane!.panePid();
    const pgid = pid === null ? null : foregroundGroup(pid);
    return pgid === null ? null : { pgid, signalable: pgid !== pid };
  }

  private emitCancel(step: CancelStep, by: CancelBy, pgid: number | null): void {
    const { session, callId, execId } = this.spec;
    this.ctx.events.emit({ type: "exec.cancel", session, callId, execId, step, by, pgid });
    for (const s of this.sinks) s.notice(`pocketcoder: stopping the command (${step})`);
  }

  /** The command has ended (its output may still be on its way): there is nothing left to stop. */
  hasEnded(): boolean {
    return this.state === "finished" || this.ending !== null;
  }

  /** Whether the command ended within `ms` (its output may still be on its way). */
  private finishedWithin(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.hasEnded()), ms);
      void Promise.race([this.finished, this.ended]).then(() => {
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
    const { execId, session, callId } = this.spec;
    this.state = "finished";
    this.endedResolve();
    this.markers?.stop();
    // whatever the command wrote and was not read yet (up to the END marker's size, once that is known)
    this.output?.drainAll();
    this.output?.stop();
    for (const t of [this.deadlineTimer, this.silenceTimer, this.liveTimer]) if (t) clearTimeout(t);
    this.pushText(this.text.end());
    if (this.liveTimer) clearTimeout(this.liveTimer);
    this.emitLive();
    this.display?.close();
    if (wasRunning && this.rawBytes > 0) this.pane?.ack(execId);
    let logPath: string | null = null;
    if (wasRunning && this.record) {
      try {
        // out of the sandbox's reach: a later command cannot read or change it
        if (this.record.outPath !== this.logPath) renameSync(this.record.outPath, this.logPath);
        logPath = this.logPath;
      } catch (e) {
        this.ctx.log.warn("could not keep the command's output file", { execId: this.spec.execId, error: e });
      }
    }
    const finishedAt = new Date().toISOString();
    const startedAt = this.record?.startedAt ?? null;
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
      logPath,
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

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

// A real runner for tests: its own temp state dir, workspace, tmux socket and HTTP unix socket,
// fast timings, a client, helpers to grant and run commands, and the events it emitted.
import { execFile } from "node:child_process";
import { mkdtempSync, mkdirSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "node:http";
import { z } from "zod";
import { commandSha256, RunnerClient, type ExecHandlers } from "../src/client.ts";
import { closeServer, createApi, listen } from "../src/http-server.ts";
import { silentLogger } from "../src/log.ts";
import type { ExecRequest, ExecResult, RunnerEvent } from "../src/protocol.ts";
import { Runner, type RunnerSettings } from "../src/runner.ts";

export const token = "test-token-0123456789abcdef";
export const shimPath = realpathSync(join(import.meta.dirname, "../bin/pocketcoder-shell"));

export interface TestRunner {
  runner: Runner;
  client: RunnerClient;
  dir: string;
  workspace: string;
  socket: string;
  events: RunnerEvent[];
  /** Posts a grant for exactly this command (sha256 of its bytes) in the workspace, valid for 5 minutes. */
  grant(session: string, callId: string, command: string, opts?: { cwd?: string; expiresAt?: string; sha256?: string }): Promise<void>;
  /** Grants and runs a command through the HTTP API; returns the result and the text streamed. */
  run(session: string, command: string, opts?: Partial<ExecRequest> & ExecHandlers): Promise<{ result: ExecResult; text: string }>;
  waitForEvent<T extends RunnerEvent["type"]>(type: T, pred?: (e: Extract<RunnerEvent, { type: T }>) => boolean, timeoutMs?: number): Promise<Extract<RunnerEvent, { type: T }>>;
  /** Stops the runner process-side only (tmux and commands keep running) and starts a new one on the same state. */
  restart(): Promise<void>;
  paneLogBytes(session: string): Promise<number>;
  cleanup(): Promise<void>;
}

let callCounter = 0;
export const nextCall = () => `call_${process.pid}_${++callCounter}`;

/** POCKETCODER_SANDBOX=plain (or bwrap) runs the tests in that mode; `auto` uses bubblewrap where it works. */
const sandboxMode = z.enum(["auto", "bwrap", "plain"]).default("auto").parse(process.env.POCKETCODER_SANDBOX || undefined);

export async function startTestRunner(overrides: Partial<RunnerSettings> = {}): Promise<TestRunner> {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "pc-runner-")));
  const settings: RunnerSettings = {
    workspace: join(dir, "ws"),
    stateDir: join(dir, "state"),
    sandbox: sandboxMode,
    path: "/usr/local/bin:/usr/bin:/bin",
    defaultTimeoutMs: 60_000,
    noOutputMs: 30_000,
    cancelStepMs: 400,
    replyMaxBytes: 65_536,
    queueMax: 50,
    historyLimit: 50_000,
    pollMs: 50,
    paneCheckMs: 200,
    readyTimeoutMs: 15_000,
    retentionMs: 3_600_000,
    ...overrides,
  };
  const workspace = settings.workspace;
  mkdirSync(workspace, { recursive: true });
  const socket = join(dir, "runner.sock");
  const events: RunnerEvent[] = [];
  const waiters = new Set<() => void>();
  let runner!: Runner;
  let server!: Server;
  const boot = async () => {
    runner = await Runner.start(settings, silentLogger);
    const seen = events.reduce((m, e) => Math.max(m, e.seq ?? 0), 0);
    events.push(...runner.events.since(seen));
    runner.events.subscribe((e) => {
      events.push(e);
      for (const w of waiters) w();
    });
    server = createApi(runner, token, silentLogger);
    await listen(server, { kind: "unix", path: socket, mode: 0o600 });
  };
  await boot();
  const client = new RunnerClient(socket, token);

  const t: TestRunner = {
    get runner() {
      return runner;
    },
    client,
    dir,
    workspace,
    socket,
    events,
    async grant(session, callId, command, opts = {}) {
      await client.grant({
        session,
        callId,
        sha256: opts.sha256 ?? commandSha256(command),
        cwd: opts.cwd ?? workspace,
        expiresAt: opts.expiresAt ?? new Date(Date.now() + 300_000).toISOString(),
      });
    },
    async run(session, command, opts = {}) {
      const callId = opts.callId ?? nextCall();
      await t.grant(session, callId, command, opts.cwd ? { cwd: opts.cwd } : {});
      const chunks: Buffer[] = [];
      const result = await client.exec(
        { session, callId, command, cwd: opts.cwd ?? workspace, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) },
        { onOutput: (b) => (chunks.push(b), opts.onOutput?.(b)), ...(opts.onNotice ? { onNotice: opts.onNotice } : {}), ...(opts.onStarted ? { onStarted: opts.onStarted } : {}) },
      );
      return { result, text: Buffer.concat(chunks).toString("utf8") };
    },
    waitForEvent(type, pred = () => true, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = events.find((e) => e.type === type && pred(e as never));
          if (!hit) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit as never);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${type} event within ${timeoutMs} ms`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    async restart() {
      runner.close();
      await closeServer(server);
      await boot();
    },
    async paneLogBytes(session) {
      const info = (await client.sessions()).find((s) => s.session === session);
      if (!info) return 0;
      const { statSync } = await import("node:fs");
      return statSync(join(settings.stateDir, "logs", `${info.tmuxSession}.log`)).size;
    },
    async cleanup() {
      runner.close();
      await closeServer(server);
      await new Promise<void>((resolve) => execFile("tmux", ["-S", runner.tmux.socket, "kill-server"], () => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}

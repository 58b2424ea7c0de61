// Keeps one `opencode serve` for the bot: started and supervised through OpencodeProcess, or, after
// the bot crashed, the server the previous bot process left running, adopted. Adopting keeps what
// opencode holds only in memory (the running turn, its pending permission requests), so a request
// approved while the bot was down still gets its answer and its command runs once. A clean stop
// stops the server. The record of the server (pid, url, credentials, a fingerprint of its
// configuration) is a 0600 file in opencode's data folder; a server started with another
// configuration is stopped rather than adopted.
import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createOpencodeClient, type OpencodeClient } from "@opencode-ai/sdk/v2";
import { z } from "zod";
import type { OpencodeLaunchConfig } from "../agent/opencode-config.ts";
import { OpencodeProcess, opencodeVersion, type OpencodeExit } from "../agent/opencode-process.ts";
import type { Logger } from "../log.ts";

export interface AgentHostOptions {
  /** opencode's own data folder (HOME, XDG dirs) and the server record. */
  dataDir: string;
  /** The folder the server runs in (the workspace); sessions name their project folder. */
  directory: string;
  launch: OpencodeLaunchConfig;
  /** What the shell shim needs (the runner's address). */
  env: Record<string, string>;
  log: Logger;
  restartDelayMs?: number;
  /** How often an adopted server (not our child) is checked for life. */
  pollMs?: number;
}

export interface AgentHostEvents {
  /** The server died; a restart follows. */
  exit: [OpencodeExit];
  /** A server is serving again after `exit`. */
  restarted: [];
}

const ServerRecord = z.object({ pid: z.number().int().positive(), url: z.string(), authorization: z.string(), fingerprint: z.string() });
type ServerRecord = z.infer<typeof ServerRecord>;

export class AgentHost extends EventEmitter<AgentHostEvents> {
  private own: OpencodeProcess | undefined;
  private adopted: { record: ServerRecord; client: OpencodeClient; timer: NodeJS.Timeout } | undefined;
  private stopped = false;
  private readonly recordPath: string;
  private readonly fingerprint: string;

  private constructor(private readonly opts: AgentHostOptions) {
    super();
    this.recordPath = join(opts.dataDir, "server.json");
    this.fingerprint = createHash("sha256")
      .update(JSON.stringify([opencodeVersion(), opts.directory, opts.launch, opts.env]))
      .digest("hex");
  }

  static async start(opts: AgentHostOptions): Promise<AgentHost> {
    const host = new AgentHost(opts);
    const previous = host.readRecord();
    if (previous && (await host.answers(previous))) {
      if (previous.fingerprint === host.fingerprint) {
        host.adopt(previous);
        return host;
      }
      opts.log.info("stopping the agent server left by the previous run: its configuration changed", { pid: previous.pid });
      await terminate(previous.pid);
    }
    await host.launch();
    return host;
  }

  /** The current client; throws while no server is serving. */
  client(): OpencodeClient {
    if (this.adopted) return this.adopted.client;
    if (!this.own) throw new Error("opencode is not running");
    return this.own.client;
  }

  get pid(): number | undefined {
    return this.adopted ? this.adopted.record.pid : this.own?.pid;
  }

  get wasAdopted(): boolean {
    return this.adopted !== undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.adopted) {
      clearInterval(this.adopted.timer);
      await terminate(this.adopted.record.pid);
      this.adopted = undefined;
    }
    await this.own?.stop();
    rmSync(this.recordPath, { force: true });
  }

  private async launch(): Promise<void> {
    const proc = await OpencodeProcess.start({
      dataDir: this.opts.dataDir,
      directory: this.opts.directory,
      launch: this.opts.launch,
      env: this.opts.env,
      logger: this.opts.log,
      ...(this.opts.restartDelayMs !== undefined ? { restartDelayMs: this.opts.restartDelayMs } : {}),
    });
    this.own = proc;
    this.writeRecord(proc);
    proc.on("exit", (exit) => this.emit("exit", exit));
    proc.on("restarted", () => {
      this.writeRecord(proc);
      this.emit("restarted");
    });
  }

  private adopt(record: ServerRecord): void {
    const client = createOpencodeClient({ baseUrl: record.url, directory: this.opts.directory, headers: { Authorization: record.authorization } });
    // Not our child: no exit event, so look for it now and then; when it is gone, start our own.
    const timer = setInterval(() => {
      if (alive(record.pid) || this.stopped) return;
      clearInterval(timer);
      this.adopted = undefined;
      this.opts.log.warn("the adopted agent server exited", { pid: record.pid });
      this.emit("exit", { code: null, signal: null });
      void this.relaunch(1);
    }, this.opts.pollMs ?? 500);
    timer.unref();
    this.adopted = { record, client, timer };
    this.opts.log.info("adopted the agent server of the previous run", { pid: record.pid, url: record.url });
  }

  private async relaunch(attempt: number): Promise<void> {
    await new Promise((r) => setTimeout(r, Math.min((this.opts.restartDelayMs ?? 1_000) * 2 ** (attempt - 1), 30_000)));
    if (this.stopped) return;
    try {
      await this.launch();
      if (this.stopped) return void (await this.own?.stop());
      this.emit("restarted");
    } catch (error) {
      this.opts.log.error("agent server restart failed", { attempt, error });
      await this.relaunch(attempt + 1);
    }
  }

  private readRecord(): ServerRecord | null {
    try {
      const parsed = ServerRecord.safeParse(JSON.parse(readFileSync(this.recordPath, "utf8")));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  private writeRecord(proc: OpencodeProcess): void {
    const record: ServerRecord = { pid: proc.pid!, url: proc.url, authorization: proc.authorization, fingerprint: this.fingerprint };
    writeFileSync(this.recordPath, JSON.stringify(record) + "\n", { mode: 0o600 });
  }

  /** The recorded server is alive and accepts the recorded credentials (so it is ours, not a reused pid). */
  private async answers(record: ServerRecord): Promise<boolean> {
    if (!alive(record.pid)) return false;
    const res = await fetch(`${record.url}/global/health`, { headers: { Authorization: record.authorization }, signal: AbortSignal.timeout(3_000) }).catch(() => undefined);
    return res?.ok === true;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. */
async function terminate(pid: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 5_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) process.kill(pid, "SIGKILL");
  while (alive(pid)) await new Promise((r) => setTimeout(r, 50));
}

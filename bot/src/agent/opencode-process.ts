// Starts and supervises `opencode serve` on loopback: its own HOME, a random password, the generated
// config, the offline switches, and a clean environment (the bot's secrets stay with the bot; only the
// model key the agent needs is passed). Restarts it with backoff when it dies and says so by events.
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { createOpencodeClient, type OpencodeClient } from "@opencode-ai/sdk/v2";
import { createLogger, type Logger } from "../log.ts";
import type { OpencodeLaunchConfig } from "./opencode-config.ts";

export const opencodeUser = "opencode";
const stableAfterMs = 60_000;

export type OpencodeProcessOptions = {
  /** Folder for opencode's HOME and XDG dirs (database, logs, caches). Created if missing. */
  dataDir: string;
  /** Project directory the client addresses (sent as x-opencode-directory); also the server's cwd. */
  directory: string;
  launch: OpencodeLaunchConfig;
  /** Extra variables for the server and the shell it spawns (e.g. how the shim reaches the runner). */
  env?: Record<string, string>;
  /** The opencode executable; defaults to the one of the installed `opencode-ai` package. */
  binary?: string;
  readyTimeoutMs?: number;
  /** Backoff between restarts: doubles from `restartDelayMs` up to `maxRestartDelayMs`. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  logger?: Logger;
};

export type OpencodeExit = { code: number | null; signal: NodeJS.Signals | null };

export interface OpencodeProcessEvents {
  /** The server died without `stop()` being called; a restart follows. */
  exit: [OpencodeExit];
  /** The server is serving again after an unexpected exit (its url and client may have changed). */
  restarted: [{ url: string; attempt: number }];
  /** A restart attempt failed; another follows after the backoff. */
  "restart-failed": [{ error: Error; attempt: number }];
}

// Variables passed through from the bot's environment: the basics a toolchain needs, nothing secret.
const passThrough = ["PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM"];

const require = createRequire(import.meta.url);

function opencodePackage(): { path: string; version: string; bin: { opencode: string } } {
  const path = require.resolve("opencode-ai/package.json");
  return { path, ...(require(path) as { version: string; bin: { opencode: string } }) };
}

export function resolveOpencodeBinary(): string {
  const pkg = opencodePackage();
  return join(dirname(pkg.path), pkg.bin.opencode);
}

export function opencodeVersion(): string {
  return opencodePackage().version;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export class OpencodeProcess extends EventEmitter<OpencodeProcessEvents> {
  readonly password = randomBytes(24).toString("base64url");
  private child: ChildProcess | undefined;
  private current: { url: string; client: OpencodeClient } | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private restarting: Promise<void> | undefined;
  private servingSince = 0;
  private quickCrashes = 0;
  private readonly log: Logger;

  private constructor(private readonly opts: OpencodeProcessOptions) {
    super();
    this.log = opts.logger ?? createLogger("agent.opencode");
  }

  static async start(opts: OpencodeProcessOptions): Promise<OpencodeProcess> {
    const proc = new OpencodeProcess(opts);
    await proc.prepareDirs();
    await proc.launch();
    return proc;
  }

  get url(): string {
    return this.serving().url;
  }

  get client(): OpencodeClient {
    return this.serving().client;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** `Authorization` header value for raw HTTP calls (e.g. `GET /doc`). */
  get authorization(): string {
    return "Basic " + Buffer.from(`${opencodeUser}:${this.password}`).toString("base64");
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    await this.restarting?.catch(() => undefined); // a restart under way would otherwise outlive stop()
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }

  private serving(): { url: string; client: OpencodeClient } {
    if (!this.current) throw new Error("opencode is not running");
    return this.current;
  }

  private get home(): string {
    return join(this.opts.dataDir, "home");
  }

  private xdg(kind: "config" | "data" | "cache" | "state"): string {
    return join(this.opts.dataDir, "xdg", kind);
  }

  // opencode installs @opencode-ai/plugin into its config dir in the background (a registry call)
  // unless node_modules exists and package-lock.json already lists the package. Our plugins are plain
  // files that import nothing, so a lock entry without the package is enough to skip the install.
  private async prepareDirs(): Promise<void> {
    for (const dir of [this.home, this.xdg("config"), this.xdg("data"), this.xdg("cache"), this.xdg("state")])
      await mkdir(dir, { recursive: true, mode: 0o700 });
    const configDir = join(this.xdg("config"), "opencode");
    await mkdir(join(configDir, "node_modules"), { recursive: true });
    const dependencies = { "@opencode-ai/plugin": opencodeVersion() };
    await writeFile(join(configDir, "package.json"), JSON.stringify({ private: true, dependencies }, null, 2) + "\n");
    await writeFile(
      join(configDir, "package-lock.json"),
      JSON.stringify({ lockfileVersion: 3, requires: true, packages: { "": { dependencies } } }, null, 2) + "\n",
    );
  }

  private environment(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const k of passThrough) if (process.env[k]) env[k] = process.env[k]!;
    return {
      ...env,
      HOME: this.home,
      XDG_CONFIG_HOME: this.xdg("config"),
      XDG_DATA_HOME: this.xdg("data"),
      XDG_CACHE_HOME: this.xdg("cache"),
      XDG_STATE_HOME: this.xdg("state"),
      OPENCODE_SERVER_USERNAME: opencodeUser,
      OPENCODE_SERVER_PASSWORD: this.password,
      OPENCODE_CONFIG_CONTENT: JSON.stringify(this.opts.launch.config),
      OPENCODE_DISABLE_MODELS_FETCH: "1",
      OPENCODE_DISABLE_AUTOUPDATE: "1",
      OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
      // The project folder is written by sandboxed commands; its opencode.json and .opencode/
      // (plugins, tools, MCP servers) would run on this side of the sandbox, without any grant.
      OPENCODE_DISABLE_PROJECT_CONFIG: "1",
      ...this.opts.launch.env,
      ...this.opts.env,
    };
  }

  private async launch(): Promise<void> {
    const port = await freePort();
    const binary = this.opts.binary ?? resolveOpencodeBinary();
    const child = spawn(binary, ["serve", "--hostname", "127.0.0.1", "--port", String(port)], {
      cwd: this.opts.directory,
      env: this.environment(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    let ready = false;
    child.once("exit", (code, signal) => ready && this.onExit(child, { code, signal }));
    const url = await this.awaitListening(child);
    await this.awaitHealthy(url).catch((e: Error) => {
      child.kill("SIGKILL");
      throw e;
    });
    const client = createOpencodeClient({ baseUrl: url, directory: this.opts.directory, headers: { Authorization: this.authorization } });
    this.current = { url, client };
    this.servingSince = Date.now();
    ready = true;
    this.log.info("opencode serving", { url, pid: child.pid });
  }

  private awaitListening(child: ChildProcess): Promise<string> {
    const timeoutMs = this.opts.readyTimeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
      let out = "";
      let err = "";
      const timer = setTimeout(() => fail(new Error(`opencode did not report listening within ${timeoutMs} ms`)), timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        child.kill("SIGKILL");
        reject(new Error(`${e.message}\n${err.slice(-2000)}`));
      };
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        out = (out + chunk).slice(-4096);
        const m = /opencode server listening on (http:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          out = "";
          resolve(m[1]!);
        }
      });
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
        err = (err + chunk).slice(-8000);
      });
      child.once("error", fail);
      child.once("exit", (code, signal) => fail(new Error(`opencode exited during start-up (code ${code}, signal ${signal})`)));
    });
  }

  private async awaitHealthy(url: string): Promise<void> {
    const deadline = Date.now() + (this.opts.readyTimeoutMs ?? 60_000);
    while (Date.now() < deadline) {
      const res = await fetch(`${url}/global/health`, { headers: { Authorization: this.authorization } }).catch(() => undefined);
      if (res?.ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`opencode at ${url} did not become healthy`);
  }

  private onExit(child: ChildProcess, exit: OpencodeExit): void {
    if (child !== this.child || this.stopping) return;
    this.current = undefined;
    this.log.warn("opencode exited", { code: exit.code, signal: exit.signal });
    this.emit("exit", exit);
    // A server that keeps dying soon after starting gets the growing backoff, not a restart a second.
    this.quickCrashes = Date.now() - this.servingSince < stableAfterMs ? this.quickCrashes + 1 : 1;
    this.scheduleRestart(this.quickCrashes);
  }

  private scheduleRestart(attempt: number): void {
    const base = this.opts.restartDelayMs ?? 1_000;
    const delay = Math.min(base * 2 ** (attempt - 1), this.opts.maxRestartDelayMs ?? 30_000);
    this.restartTimer = setTimeout(() => {
      if (this.stopping) return;
      this.restarting = this.launch();
      this.restarting.then(
        () => {
          if (!this.stopping) this.emit("restarted", { url: this.url, attempt });
        },
        (error: Error) => {
          if (this.stopping) return;
          this.log.error("opencode restart failed", { attempt, error });
          this.emit("restart-failed", { error, attempt });
          this.scheduleRestart(attempt + 1);
        },
      );
    }, delay);
  }
}

// A typed client for the runner's API, for the bot (grants, events, cancel, logs) and for tests.
// `endpoint` is what POCKETCODER_RUNNER holds: an http://host:port URL or a unix socket path.
import { createHash } from "node:crypto";
import { request, type IncomingMessage } from "node:http";
import type { z } from "zod";
import { FrameDecoder } from "./frames.ts";
import {
  type CancelRequest,
  CancelResponse,
  ErrorBody,
  type ErrorCode,
  type ExecRequest,
  ExecResult,
  ExecStarted,
  frameTypes,
  type Grant,
  type GrantRef,
  GrantResponse,
  Health,
  paths,
  RunnerEvent,
  SessionInfo,
  SessionList,
} from "./protocol.ts";

export class RunnerApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | "protocol",
    message: string,
    readonly exitCode?: number,
  ) {
    super(message);
  }
}

/** The hex sha256 of a command's UTF-8 bytes: what a grant names. */
export function commandSha256(command: string): string {
  return createHash("sha256").update(command, "utf8").digest("hex");
}

export interface ExecHandlers {
  onStarted?(info: ExecStarted): void;
  onOutput?(text: Buffer): void;
  onNotice?(line: string): void;
}

interface Call {
  method: string;
  path: string;
  body?: unknown;
  auth: boolean;
  signal?: AbortSignal;
}

export class RunnerClient {
  private readonly target: { socketPath: string } | { host: string; port: number };

  constructor(
    endpoint: string,
    private readonly token?: string,
  ) {
    if (endpoint.startsWith("/")) this.target = { socketPath: endpoint };
    else {
      const url = new URL(endpoint);
      this.target = { host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || 80) };
    }
  }

  health(): Promise<z.infer<typeof Health>> {
    return this.json({ method: "GET", path: paths.health, auth: false }, Health);
  }

  async sessions(): Promise<SessionInfo[]> {
    return (await this.json({ method: "GET", path: paths.sessions, auth: true }, SessionList)).sessions;
  }

  ensureSession(session: string): Promise<SessionInfo> {
    return this.json({ method: "POST", path: paths.sessions, body: { session }, auth: true }, SessionInfo);
  }

  async closeSession(session: string): Promise<void> {
    await this.raw({ method: "DELETE", path: paths.session(session), auth: true });
  }

  /** Adds a grant; with `start`, the runner starts the command at once and this returns its exec id. */
  async grant(grant: Grant): Promise<GrantResponse> {
    return this.json({ method: "POST", path: paths.grants, body: grant, auth: true }, GrantResponse);
  }

  async revokeGrant(ref: GrantRef): Promise<boolean> {
    const body = JSON.parse((await this.raw({ method: "DELETE", path: paths.grants, body: ref, auth: true })).toString()) as { revoked: boolean };
    return body.revoked;
  }

  cancel(req: CancelRequest): Promise<CancelResponse> {
    return this.json({ method: "POST", path: paths.cancel, body: req, auth: true }, CancelResponse);
  }

  /** The shim's cancel of its own call (no token). */
  cancelOwn(ref: GrantRef): Promise<CancelResponse> {
    return this.json({ method: "POST", path: paths.execCancel, body: ref, auth: false }, CancelResponse);
  }

  async execInfo(execId: string): Promise<{ execId: string; result: ExecResult | null }> {
    return JSON.parse((await this.raw({ method: "GET", path: paths.execInfo(execId), auth: true })).toString()) as { execId: string; result: ExecResult | null };
  }

  /** The full output of a command (the bytes it wrote; once it has ended, exactly what outputSha256 covers). */
  execLog(execId: string): Promise<Buffer> {
    return this.raw({ method: "GET", path: paths.execLog(execId), auth: true });
  }

  /** Runs a command the way the shim does; resolves with the result, rejects with RunnerApiError when refused. */
  async exec(req: ExecRequest, handlers: ExecHandlers = {}, signal?: AbortSignal): Promise<ExecResult> {
    const res = await this.open({ method: "POST", path: paths.exec, body: req, auth: false, ...(signal ? { signal } : {}) });
    if (res.statusCode !== 200) throw await this.failure(res);
    const decoder = new FrameDecoder();
    let result: ExecResult | null = null;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      for (const f of decoder.push(chunk)) {
        if (f.type === frameTypes.output) handlers.onOutput?.(f.payload);
        else if (f.type === frameTypes.notice) handlers.onNotice?.(f.payload.toString("utf8"));
        else if (f.type === frameTypes.started) handlers.onStarted?.(ExecStarted.parse(JSON.parse(f.payload.toString("utf8"))));
        else if (f.type === frameTypes.result) result = ExecResult.parse(JSON.parse(f.payload.toString("utf8")));
      }
    }
    if (!result) throw new RunnerApiError(200, "protocol", "the exec stream ended without a result");
    return result;
  }

  /** Events after `after` (a seq), then live ones, until `signal` aborts or the runner goes away. Unknown event types are skipped. */
  async *events(opts: { after?: number; signal?: AbortSignal } = {}): AsyncGenerator<RunnerEvent> {
    const res = await this.open({ method: "GET", path: `${paths.events}?after=${opts.after ?? 0}`, auth: true, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (res.statusCode !== 200) throw await this.failure(res);
    let pending = "";
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        pending += chunk.toString("utf8");
        let end: number;
        while ((end = pending.indexOf("\n\n")) >= 0) {
          const block = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const data = block
            .split("\n")
            .filter((l) => l.startsWith("data: "))
            .map((l) => l.slice(6))
            .join("\n");
          if (!data) continue;
          const parsed = RunnerEvent.safeParse(JSON.parse(data));
          if (parsed.success) yield parsed.data as RunnerEvent;
        }
      }
    } catch (e) {
      if (!opts.signal?.aborted) throw e;
    }
  }

  private async json<T extends z.ZodType>(call: Call, schema: T): Promise<z.infer<T>> {
    const body = await this.raw(call);
    const parsed = schema.safeParse(JSON.parse(body.toString("utf8")));
    if (!parsed.success) throw new RunnerApiError(200, "protocol", `unexpected answer from the runner for ${call.path}: ${parsed.error.message}`);
    return parsed.data;
  }

  private async raw(call: Call): Promise<Buffer> {
    const res = await this.open(call);
    if (res.statusCode! < 200 || res.statusCode! >= 300) throw await this.failure(res);
    const chunks: Buffer[] = [];
    for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks);
  }

  private open(call: Call): Promise<IncomingMessage> {
    const payload = call.body === undefined ? undefined : Buffer.from(JSON.stringify(call.body));
    const headers: Record<string, string> = {};
    if (payload) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(payload.length);
    }
    if (call.auth && this.token) headers.authorization = `Bearer ${this.token}`;
    return new Promise((resolve, reject) => {
      const req = request({ ...this.target, method: call.method, path: call.path, headers, ...(call.signal ? { signal: call.signal } : {}) }, resolve);
      req.on("error", reject);
      req.end(payload);
    });
  }

  private async failure(res: IncomingMessage): Promise<RunnerApiError> {
    const chunks: Buffer[] = [];
    for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
    const text = Buffer.concat(chunks).toString("utf8");
    try {
      const body = ErrorBody.parse(JSON.parse(text));
      return new RunnerApiError(res.statusCode ?? 0, body.error.code, body.error.message, body.exitCode);
    } catch {
      return new RunnerApiError(res.statusCode ?? 0, "protocol", `HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    }
  }
}

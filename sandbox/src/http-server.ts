// The runner's HTTP API (paths in protocol.ts) on a unix socket or a loopback port. Bot routes need
// the bearer token. The shim's exec route needs no token: the grant is the authority (a request
// without a matching grant runs nothing), which keeps the bot's token out of the agent's environment.
import { createHash, timingSafeEqual } from "node:crypto";
import { existsSync, chmodSync, closeSync, createReadStream, fstatSync, unlinkSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import type { z } from "zod";
import type { ExecRun, ExecSink } from "./exec-run.ts";
import { encodeFrame } from "./frames.ts";
import type { Logger } from "./log.ts";
import {
  CancelRequest,
  describeZodError,
  EnsureSession,
  type ErrorBody,
  type ErrorCode,
  ExecRequest,
  frameTypes,
  Grant,
  GrantRef,
  limits,
  paths,
  type RunnerEvent,
} from "./protocol.ts";
import { RunnerError, type Runner } from "./runner.ts";
import { openRegularFile } from "./regular-file.ts";

export type ListenAddress = { kind: "unix"; path: string; mode: number } | { kind: "tcp"; host: string; port: number };

const statusOf: Record<ErrorCode, number> = {
  bad_request: 400,
  too_large: 413,
  unauthorized: 401,
  not_found: 404,
  unknown_session: 404,
  refused: 403,
  busy: 429,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

class HttpError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
  res.end(text);
}

function sendError(res: ServerResponse, code: ErrorCode, message: string, extra: { field?: string; exitCode?: number } = {}): void {
  const body: ErrorBody = { error: { code, message, ...(extra.field ? { field: extra.field } : {}) }, ...(extra.exitCode !== undefined ? { exitCode: extra.exitCode } : {}) };
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, statusOf[code], body);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limits.requestBodyMaxBytes) throw new HttpError("too_large", `request body is ${declared} bytes; the limit is ${limits.requestBodyMaxBytes}`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limits.requestBodyMaxBytes) throw new HttpError("too_large", `request body exceeds ${limits.requestBodyMaxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function parseBody<T extends z.ZodType>(req: IncomingMessage, schema: T): Promise<z.infer<T>> {
  const raw = await readBody(req);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    throw new HttpError("bad_request", "request body is not valid UTF-8");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new HttpError("bad_request", `malformed JSON: ${(e as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const { message, field } = describeZodError(parsed.error);
    throw new HttpError("bad_request", `invalid request: ${message}`, field);
  }
  return parsed.data;
}

function tokenChecker(token: string): (req: IncomingMessage) => void {
  const want = createHash("sha256").update(token).digest();
  return (req) => {
    const header = req.headers.authorization ?? "";
    const m = /^Bearer (.+)$/.exec(header);
    const got = createHash("sha256").update(m?.[1] ?? "").digest();
    if (!m || !timingSafeEqual(want, got)) {
      throw new HttpError("unauthorized", m ? "wrong bearer token" : "missing bearer token: send Authorization: Bearer <the runner token>");
    }
  };
}

/** Output the runner queues for one slow caller before it stops reading more (memory stays bounded). */
const sinkBufferMax = 4 << 20;

/** Streams one exec to the shim as frames; opening the response lazily lets refusals still be plain 4xx answers. */
class HttpExecSink implements ExecSink {
  done = false;
  constructor(private readonly res: ServerResponse) {}

  open(): void {
    if (this.res.headersSent) return;
    this.res.writeHead(200, { "content-type": "application/x-pocketcoder-exec-stream", "cache-control": "no-store" });
    this.res.flushHeaders();
  }

  started(info: { execId: string; startedAt: string; logPath: string }): void {
    this.write(frameTypes.started, JSON.stringify(info));
  }

  output(text: Buffer): boolean {
    this.write(frameTypes.output, text);
    return this.done || this.res.destroyed || this.res.writableLength < sinkBufferMax;
  }

  whenWritable(callback: () => void): void {
    const once = () => {
      this.res.off("drain", once);
      this.res.off("close", once);
      callback();
    };
    this.res.on("drain", once);
    this.res.on("close", once);
  }

  notice(line: string): void {
    this.write(frameTypes.notice, line);
  }

  result(result: unknown): void {
    this.write(frameTypes.result, JSON.stringify(result));
    this.done = true;
    this.res.end();
  }

  private write(type: number, payload: Buffer | string): void {
    if (this.done || this.res.destroyed) return;
    this.open();
    this.res.write(encodeFrame(type, payload));
  }
}

export function createApi(runner: Runner, token: string, log: Logger): Server {
  const authorize = tokenChecker(token);

  const execRoute = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await parseBody(req, ExecRequest);
    const sink = new HttpExecSink(res);
    let run: ExecRun;
    try {
      run = await runner.exec(body, sink);
    } catch (e) {
      if (e instanceof RunnerError) return sendError(res, e.code, e.message, e.exitCode !== undefined ? { exitCode: e.exitCode } : {});
      throw e;
    }
    sink.open();
    res.on("close", () => {
      if (sink.done) return;
      if (run.detach(sink) === 0 && run.phase !== "finished") runner.cancel(body.session, body.callId, "disconnect");
    });
  };

  const eventsRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const afterText = url.searchParams.get("after") ?? (req.headers["last-event-id"] as string | undefined) ?? "0";
    const after = Number(afterText);
    if (!Number.isInteger(after) || after < 0) throw new HttpError("bad_request", "after must be a non-negative integer sequence number", "after");
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
    const send = (e: RunnerEvent) => res.write(`${e.seq !== null ? `id: ${e.seq}\n` : ""}data: ${JSON.stringify(e)}\n\n`);
    for (const e of runner.events.since(after)) send(e);
    const unsubscribe = runner.events.subscribe(send);
    const ping = setInterval(() => res.write(": ping\n\n"), 15_000);
    res.on("close", () => {
      unsubscribe();
      clearInterval(ping);
    });
  };

  const route = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://runner");
    const p = url.pathname;
    const m = req.method ?? "GET";
    if (p === paths.health && m === "GET") return sendJson(res, 200, runner.health());
    if (p === paths.exec && m === "POST") return execRoute(req, res);
    if (p === paths.execCancel && m === "POST") {
      const body = await parseBody(req, GrantRef);
      return sendJson(res, 200, runner.cancel(body.session, body.callId, "shim"));
    }
    if (!p.startsWith("/v1/")) throw new HttpError("not_found", `no route ${m} ${p}`);
    authorize(req);
    if (p === paths.sessions && m === "GET") return sendJson(res, 200, { sessions: runner.listSessions() });
    if (p === paths.sessions && m === "POST") {
      const body = await parseBody(req, EnsureSession);
      await runner.ensureSession(body.session);
      return sendJson(res, 200, runner.listSessions().find((s) => s.session === body.session));
    }
    const sessionMatch = /^\/v1\/sessions\/([^/]+)$/.exec(p);
    if (sessionMatch && m === "DELETE") {
      const id = decodeURIComponent(sessionMatch[1]!);
      if (!(await runner.closeSession(id))) throw new HttpError("unknown_session", `unknown session ${id}`);
      return sendJson(res, 200, { closed: true });
    }
    if (p === paths.grants && m === "POST") {
      const execId = await runner.addGrant(await parseBody(req, Grant));
      return sendJson(res, 201, { ok: true, execId });
    }
    if (p === paths.grants && m === "DELETE") {
      const body = await parseBody(req, GrantRef);
      return sendJson(res, 200, { revoked: runner.revokeGrant(body.session, body.callId) });
    }
    if (p === paths.cancel && m === "POST") {
      const body = await parseBody(req, CancelRequest);
      if (!runner.session(body.session)) throw new HttpError("unknown_session", `unknown session ${body.session}`);
      return sendJson(res, 200, runner.cancel(body.session, body.callId, "bot"));
    }
    if (p === paths.events && m === "GET") return eventsRoute(req, res, url);
    const execMatch = /^\/v1\/execs\/([0-9a-f]{16})(\/log)?$/.exec(p);
    if (execMatch && m === "GET") {
      const record = runner.execRecord(execMatch[1]!);
      if (!record) throw new HttpError("not_found", `no command ${execMatch[1]} is known (finished ones are kept for a while only)`);
      if (!execMatch[2]) {
        const { execId, session, callId, sha256, cwd, startedAt, timeoutMs, result } = record;
        return sendJson(res, 200, { execId, session, callId, sha256, cwd, startedAt, timeoutMs, result });
      }
      // while it runs, the output so far; once finished, exactly the bytes its outputSha256 covers
      const path = record.result ? record.result.logPath : record.outPath;
      const fd = path ? openRegularFile(path) : null;
      if (fd === null) throw new HttpError("not_found", `the output log of ${record.execId} is gone`);
      const size = record.result ? record.result.outputBytes : fstatSync(fd).size;
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size, "cache-control": "no-store" });
      if (size === 0) {
        closeSync(fd);
        res.end();
        return;
      }
      createReadStream("", { fd, start: 0, end: size - 1 }).pipe(res);
      return;
    }
    throw new HttpError("not_found", `no route ${m} ${p}`);
  };

  return createServer((req, res) => {
    route(req, res).catch((e: unknown) => {
      if (e instanceof HttpError) return sendError(res, e.code, e.message, e.field ? { field: e.field } : {});
      if (e instanceof RunnerError) return sendError(res, e.code, e.message, e.exitCode !== undefined ? { exitCode: e.exitCode } : {});
      log.error("request failed", { method: req.method, path: req.url, error: e });
      sendError(res, "internal", "internal error; see the runner's log");
    });
  });
}

/** Listens; a stale unix socket left by a killed runner is removed, a live one is an error. */
export async function listen(server: Server, address: ListenAddress): Promise<void> {
  if (address.kind === "unix" && existsSync(address.path)) {
    const alive = await new Promise<boolean>((resolve) => {
      const probe = connect(address.path);
      probe.once("connect", () => (probe.destroy(), resolve(true)));
      probe.once("error", () => resolve(false));
    });
    if (alive) throw new Error(`another process is already listening on ${address.path}`);
    unlinkSync(address.path);
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (address.kind === "unix") server.listen(address.path, resolve);
    else server.listen(address.port, address.host, resolve);
  });
  if (address.kind === "unix") chmodSync(address.path, address.mode);
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

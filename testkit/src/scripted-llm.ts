// A scripted, OpenAI-compatible model endpoint for tests: the one stand-in the suite allows.
// It answers `POST /v1/chat/completions` (streamed as SSE or as one JSON body) and `GET /v1/models`
// from a plan the test writes, and records every request so tests can assert what the model saw.
//
// How a request picks its reply, first match wins:
//   1. auxiliary requests (no `tools` offered: opencode's title/summary agents on `small_model`)
//      get `auxiliaryReply` — by default the text "Test session". Create sessions with a `title`
//      and opencode makes no title call at all;
//   2. matchers added with `llm.on(match, reply)`, in insertion order (`once` ones are removed on use);
//   3. the queue filled by `llm.reply.*`, first in first out;
//   4. `defaultReply` — by default the text "(scripted model: nothing planned)".
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type ChatMessage = {
  role: "system" | "user" | "assistant" | "tool";
  content?: unknown;
  tool_calls?: { id: string; type: "function"; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
};

export type RecordedRequest = {
  kind: "agent" | "auxiliary";
  stream: boolean;
  model: string;
  messages: ChatMessage[];
  toolNames: string[];
  authorization: string | undefined;
  body: Record<string, unknown>;
};

export type ToolCallPlan = { name: string; args: Record<string, unknown>; id?: string };

export type PlannedReply =
  | { kind: "text"; chunks: string[]; delayMs: number }
  | { kind: "tools"; calls: ToolCallPlan[]; text: string }
  | { kind: "error"; status: number; message: string }
  // Streams `chunks`, then keeps the response open until the client goes away (abort tests).
  | { kind: "hang"; chunks: string[] };

export type Matcher = (req: RecordedRequest) => boolean;

export const plan = {
  text: (text: string): PlannedReply => ({ kind: "text", chunks: [text], delayMs: 0 }),
  textChunks: (chunks: string[], opts: { delayMs?: number } = {}): PlannedReply => ({ kind: "text", chunks, delayMs: opts.delayMs ?? 0 }),
  toolCall: (name: string, args: Record<string, unknown>, opts: { id?: string; text?: string } = {}): PlannedReply => ({
    kind: "tools",
    calls: [{ name, args, ...(opts.id ? { id: opts.id } : {}) }],
    text: opts.text ?? "",
  }),
  toolCalls: (calls: ToolCallPlan[], opts: { text?: string } = {}): PlannedReply => ({ kind: "tools", calls, text: opts.text ?? "" }),
  error: (status: number, message: string): PlannedReply => ({ kind: "error", status, message }),
  hang: (chunks: string[] = []): PlannedReply => ({ kind: "hang", chunks }),
};

/** Text of a message's content, whether a string or an array of `{type:"text", text}` parts. */
export function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((p) => (p && typeof p === "object" && "text" in p && typeof p.text === "string" ? p.text : "")).join("");
}

export const match = {
  /** The last message is a tool result (the model is being called back after a tool ran). */
  afterToolResult: (): Matcher => (req) => req.messages.at(-1)?.role === "tool",
  /** The last tool result contains `text`. */
  toolResultIncludes: (text: string): Matcher => (req) => {
    const last = req.messages.at(-1);
    return last?.role === "tool" && contentText(last.content).includes(text);
  },
  /** The last user message contains `text`. */
  lastUserIncludes: (text: string): Matcher => (req) =>
    contentText([...req.messages].reverse().find((m) => m.role === "user")?.content).includes(text),
};

export type ScriptedLlm = {
  /** Base URL including `/v1`, for a provider's `baseURL`. */
  readonly baseURL: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** Requests that offered tools: the agent's own turns. */
  readonly agentRequests: RecordedRequest[];
  /** Queue replies, first in first out. */
  readonly reply: {
    text(text: string): ScriptedLlm;
    textChunks(chunks: string[], opts?: { delayMs?: number }): ScriptedLlm;
    toolCall(name: string, args: Record<string, unknown>, opts?: { id?: string; text?: string }): ScriptedLlm;
    toolCalls(calls: ToolCallPlan[], opts?: { text?: string }): ScriptedLlm;
    error(status: number, message: string): ScriptedLlm;
    hang(chunks?: string[]): ScriptedLlm;
  };
  on(matcher: Matcher, reply: PlannedReply, opts?: { once?: boolean }): ScriptedLlm;
  defaultReply: PlannedReply;
  auxiliaryReply: PlannedReply;
  /** Replies still queued (a test can assert its plan was used up). */
  pending(): number;
  /** All tool results the model has been sent so far, across requests, in order, without duplicates. */
  toolResults(): { toolCallId: string; content: string }[];
  /** Resolves when `n` requests in total have arrived. */
  waitForRequests(n: number): Promise<void>;
  close(): Promise<void>;
};

let callCounter = 0;

export async function startScriptedLlm(opts: { model?: string } = {}): Promise<ScriptedLlm> {
  const modelName = opts.model ?? "scripted-model";
  const queue: PlannedReply[] = [];
  const matchers: { matcher: Matcher; reply: PlannedReply; once: boolean }[] = [];
  const requests: RecordedRequest[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const open = new Set<ServerResponse>();

  const choose = (req: RecordedRequest): PlannedReply => {
    if (req.kind === "auxiliary") return llm.auxiliaryReply;
    const i = matchers.findIndex((m) => m.matcher(req));
    if (i >= 0) {
      const m = matchers[i]!;
      if (m.once) matchers.splice(i, 1);
      return m.reply;
    }
    return queue.shift() ?? llm.defaultReply;
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: String(err) } }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "").split("?")[0];
    if (req.method === "GET" && path === "/v1/models") {
      json(res, 200, { object: "list", data: [{ id: modelName, object: "model", created: 0, owned_by: "pocketcoder-tests" }] });
      return;
    }
    if (req.method !== "POST" || path !== "/v1/chat/completions") {
      json(res, 404, { error: { message: `scripted model: no route ${req.method} ${path}` } });
      return;
    }
    const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
    const tools = Array.isArray(body.tools) ? (body.tools as { function?: { name?: string } }[]) : [];
    const recorded: RecordedRequest = {
      kind: tools.length > 0 ? "agent" : "auxiliary",
      stream: body.stream === true,
      model: typeof body.model === "string" ? body.model : "",
      messages: Array.isArray(body.messages) ? (body.messages as ChatMessage[]) : [],
      toolNames: tools.map((t) => t.function?.name ?? ""),
      authorization: req.headers.authorization,
      body,
    };
    requests.push(recorded);
    for (const w of waiters.filter((w) => requests.length >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
    const reply = choose(recorded);
    if (reply.kind === "error") {
      json(res, reply.status, { error: { message: reply.message, type: "scripted_error" } });
      return;
    }
    if (recorded.stream) await stream(res, reply, recorded.model);
    else json(res, 200, completion(reply, recorded.model));
  }

  async function stream(res: ServerResponse, reply: Exclude<PlannedReply, { kind: "error" }>, model: string): Promise<void> {
    open.add(res);
    res.on("close", () => open.delete(res));
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const id = `chatcmpl-${++callCounter}`;
    const send = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) =>
      res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: 0, model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`);

    send({ role: "assistant", content: "" }, null);
    const chunks = reply.kind === "tools" ? (reply.text ? [reply.text] : []) : reply.chunks;
    for (const c of chunks) {
      if (res.destroyed) return;
      send({ content: c }, null);
      if (reply.kind === "text" && reply.delayMs > 0) await sleep(reply.delayMs);
    }
    if (reply.kind === "hang") return; // left open until the client disconnects
    if (reply.kind === "tools") {
      reply.calls.forEach((call, index) => {
        send({ tool_calls: [{ index, id: call.id ?? `call_${++callCounter}`, type: "function", function: { name: call.name, arguments: "" } }] }, null);
        send({ tool_calls: [{ index, function: { arguments: JSON.stringify(call.args) } }] }, null);
      });
    }
    send({}, reply.kind === "tools" ? "tool_calls" : "stop", { usage: usage(chunks.join("")) });
    res.write("data: [DONE]\n\n");
    res.end();
  }

  function completion(reply: Exclude<PlannedReply, { kind: "error" }>, model: string): Record<string, unknown> {
    const text = reply.kind === "tools" ? reply.text : reply.chunks.join("");
    const toolCalls =
      reply.kind === "tools"
        ? reply.calls.map((c) => ({ id: c.id ?? `call_${++callCounter}`, type: "function", function: { name: c.name, arguments: JSON.stringify(c.args) } }))
        : undefined;
    return {
      id: `chatcmpl-${++callCounter}`,
      object: "chat.completion",
      created: 0,
      model,
      choices: [{ index: 0, message: { role: "assistant", content: text, ...(toolCalls ? { tool_calls: toolCalls } : {}) }, finish_reason: toolCalls ? "tool_calls" : "stop" }],
      usage: usage(text),
    };
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  const enqueue = (r: PlannedReply): ScriptedLlm => {
    queue.push(r);
    return llm;
  };

  const llm: ScriptedLlm = {
    baseURL: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    get agentRequests() {
      return requests.filter((r) => r.kind === "agent");
    },
    reply: {
      text: (t) => enqueue(plan.text(t)),
      textChunks: (c, o) => enqueue(plan.textChunks(c, o)),
      toolCall: (n, a, o) => enqueue(plan.toolCall(n, a, o)),
      toolCalls: (c, o) => enqueue(plan.toolCalls(c, o)),
      error: (s, m) => enqueue(plan.error(s, m)),
      hang: (c) => enqueue(plan.hang(c)),
    },
    on(matcher, reply, o = {}) {
      matchers.push({ matcher, reply, once: o.once ?? false });
      return llm;
    },
    defaultReply: plan.text("(scripted model: nothing planned)"),
    auxiliaryReply: plan.text("Test session"),
    pending: () => queue.length,
    toolResults() {
      const seen = new Map<string, string>();
      for (const r of requests)
        for (const m of r.messages)
          if (m.role === "tool" && m.tool_call_id && !seen.has(m.tool_call_id)) seen.set(m.tool_call_id, contentText(m.content));
      return [...seen].map(([toolCallId, content]) => ({ toolCallId, content }));
    },
    waitForRequests(n) {
      if (requests.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    close() {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return llm;
}

function usage(text: string) {
  const completion_tokens = Math.max(1, Math.ceil(text.length / 4));
  return { prompt_tokens: 10, completion_tokens, total_tokens: 10 + completion_tokens };
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(value));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

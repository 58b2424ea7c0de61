// The scripted model endpoint speaks the OpenAI chat-completions wire format (streamed and not).
// That opencode accepts it end to end is shown in opencode.test.ts; here the wire format itself.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { match, plan, startScriptedLlm, type ScriptedLlm } from "@pocketcoder/testkit/scripted-llm";

type Chunk = {
  object: string;
  choices: { index: number; delta: { role?: string; content?: string; tool_calls?: { index: number; id?: string; type?: string; function: { name?: string; arguments?: string } }[] }; finish_reason: string | null }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
};

const tools = [{ type: "function", function: { name: "bash", parameters: { type: "object" } } }];

async function post(llm: ScriptedLlm, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${llm.baseURL}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer k1" },
    body: JSON.stringify({ model: "scripted-model", ...body }),
  });
}

async function streamChunks(res: Response): Promise<{ chunks: Chunk[]; done: boolean }> {
  const text = await res.text();
  const datas = text.split("\n\n").filter(Boolean).map((frame) => {
    expect(frame.startsWith("data: ")).toBe(true);
    return frame.slice("data: ".length);
  });
  const done = datas.at(-1) === "[DONE]";
  return { chunks: datas.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d) as Chunk), done };
}

describe("scripted model endpoint", () => {
  let llm: ScriptedLlm;
  beforeEach(async () => {
    llm = await startScriptedLlm();
  });
  afterEach(async () => {
    await llm.close();
  });

  it("streams text deltas, then a stop chunk with usage, then [DONE]", async () => {
    llm.reply.textChunks(["Hel", "lo"]);
    const res = await post(llm, { stream: true, tools, messages: [{ role: "user", content: "hi" }] });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const { chunks, done } = await streamChunks(res);
    expect(done).toBe(true);
    expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    expect(chunks.map((c) => c.choices[0]!.delta.content ?? "").join("")).toBe("Hello");
    const last = chunks.at(-1)!;
    expect(last.choices[0]!.finish_reason).toBe("stop");
    expect(last.usage?.total_tokens).toBeGreaterThan(0);
  });

  it("streams tool calls with id and name first, arguments that join into the planned JSON, finish_reason tool_calls", async () => {
    llm.reply.toolCalls([
      { name: "bash", args: { command: "echo hi", description: "say hi" }, id: "call_a" },
      { name: "read", args: { filePath: "/x" } },
    ]);
    const { chunks } = await streamChunks(await post(llm, { stream: true, tools, messages: [{ role: "user", content: "go" }] }));
    const calls = new Map<number, { id?: string; name?: string; args: string }>();
    for (const c of chunks)
      for (const tc of c.choices[0]!.delta.tool_calls ?? []) {
        const cur = calls.get(tc.index) ?? { args: "" };
        if (tc.id) cur.id = tc.id;
        if (tc.function.name) cur.name = tc.function.name;
        cur.args += tc.function.arguments ?? "";
        calls.set(tc.index, cur);
      }
    expect(calls.get(0)).toEqual({ id: "call_a", name: "bash", args: JSON.stringify({ command: "echo hi", description: "say hi" }) });
    expect(calls.get(1)?.name).toBe("read");
    expect(calls.get(1)?.id).toMatch(/^call_/);
    expect(JSON.parse(calls.get(1)!.args)).toEqual({ filePath: "/x" });
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe("tool_calls");
  });

  it("answers without streaming as one chat.completion, and lists its model", async () => {
    llm.reply.toolCall("bash", { command: "ls" }, { text: "Listing." });
    const body = (await (await post(llm, { stream: false, tools, messages: [{ role: "user", content: "ls" }] })).json()) as {
      object: string;
      choices: { message: { content: string; tool_calls: { function: { name: string; arguments: string } }[] }; finish_reason: string }[];
    };
    expect(body.object).toBe("chat.completion");
    expect(body.choices[0]!.message.content).toBe("Listing.");
    expect(body.choices[0]!.message.tool_calls[0]!.function).toEqual({ name: "bash", arguments: '{"command":"ls"}' });
    expect(body.choices[0]!.finish_reason).toBe("tool_calls");
    const models = (await (await fetch(`${llm.baseURL}/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(["scripted-model"]);
  });

  it("routes by matcher before the queue, falls back to the default, and answers auxiliary calls apart", async () => {
    llm.reply.text("queued");
    llm.on(match.afterToolResult(), plan.text("after tool"), { once: true });
    llm.defaultReply = plan.text("default");
    const textOf = async (body: Record<string, unknown>) => (await streamChunks(await post(llm, { stream: true, ...body }))).chunks.map((c) => c.choices[0]!.delta.content ?? "").join("");

    const toolTurn = [
      { role: "user", content: "x" },
      { role: "assistant", content: "", tool_calls: [{ id: "c1", type: "function", function: { name: "bash", arguments: "{}" } }] },
      { role: "tool", tool_call_id: "c1", content: "tool output 7" },
    ];
    expect(await textOf({ messages: [{ role: "system", content: "Generate a title" }, { role: "user", content: "x" }] })).toBe("Test session");
    expect(await textOf({ tools, messages: toolTurn })).toBe("after tool");
    expect(await textOf({ tools, messages: [{ role: "user", content: "y" }] })).toBe("queued");
    expect(await textOf({ tools, messages: toolTurn })).toBe("default");
    expect(llm.pending()).toBe(0);
    expect(llm.requests.map((r) => r.kind)).toEqual(["auxiliary", "agent", "agent", "agent"]);
    expect(llm.requests[1]!.authorization).toBe("Bearer k1");
    expect(llm.requests[1]!.toolNames).toEqual(["bash"]);
    expect(llm.toolResults()).toEqual([{ toolCallId: "c1", content: "tool output 7" }]);
  });

  it("returns planned HTTP errors in the OpenAI error shape", async () => {
    llm.reply.error(429, "slow down");
    const res = await post(llm, { stream: true, tools, messages: [{ role: "user", content: "x" }] });
    expect(res.status).toBe(429);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe("slow down");
  });
});

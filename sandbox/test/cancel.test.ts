// Stopping commands: Ctrl-C, the SIGTERM/SIGKILL ladder for commands that ignore it, the hard
// timeout, the no-output notice, disconnects, a caller that stops reading, and the one-at-a-time
// queue with its BUSY limit.
import { createHash } from "node:crypto";
import { request, type IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunnerApiError } from "../src/client.ts";
import { FrameDecoder } from "../src/frames.ts";
import { ExecResult, frameTypes, type RunnerEvent } from "../src/protocol.ts";
import { nextCall, startTestRunner, type TestRunner } from "./harness.ts";

let t: TestRunner;

beforeAll(async () => {
  t = await startTestRunner({ noOutputMs: 400, cancelStepMs: 1000 });
});
afterAll(() => t?.cleanup());

/** Starts a granted command without waiting for it; resolves once it is running. */
async function launch(session: string, command: string, opts: { timeoutMs?: number; signal?: AbortSignal; notices?: string[] } = {}) {
  const callId = nextCall();
  await t.grant(session, callId, command);
  const result = t.client.exec(
    { session, callId, command, cwd: t.workspace, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) },
    { onNotice: (l) => opts.notices?.push(l) },
    opts.signal,
  );
  result.catch(() => {});
  const started = await t.waitForEvent("exec.started", (e) => e.callId === callId);
  return { callId, execId: started.execId, result };
}

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const steps = (execId: string) => t.events.filter((e): e is Extract<RunnerEvent, { type: "exec.cancel" }> => e.type === "exec.cancel" && e.execId === execId).map((e) => e.step);

describe("cancel", () => {
  it("stops a command with Ctrl-C", async () => {
    const run = await launch("ses_c1", "sleep 30");
    expect(await t.client.cancel({ session: "ses_c1", callId: run.callId })).toMatchObject({ cancelled: true, state: "running", execId: run.execId });
    const result = await run.result;
    expect(result).toMatchObject({ status: "cancelled", exitCode: 130 });
    expect(steps(run.execId)).toEqual(["interrupt"]);
  });

  it("sends SIGTERM to the foreground process group when Ctrl-C is ignored", async () => {
    const run = await launch("ses_c2", `sh -c 'trap "" INT; exec sleep 30'`);
    await t.client.cancel({ session: "ses_c2" });
    const result = await run.result;
    expect(result).toMatchObject({ status: "cancelled", exitCode: 143 });
    expect(steps(run.execId)).toEqual(["interrupt", "terminate"]);
    const term = t.events.find((e) => e.type === "exec.cancel" && e.execId === run.execId && e.step === "terminate");
    expect(term?.type === "exec.cancel" && term.pgid).toBeGreaterThan(1);
    expect((await t.run("ses_c2", "echo still-alive")).text).toBe("still-alive\n");
  });

  it("sends SIGKILL when SIGTERM is ignored too", async () => {
    const run = await launch("ses_c3", `sh -c 'trap "" INT TERM; exec sleep 30'`);
    await t.client.cancel({ session: "ses_c3", callId: run.callId });
    expect(await run.result).toMatchObject({ status: "cancelled", exitCode: 137 });
    expect(steps(run.execId)).toEqual(["interrupt", "terminate", "kill"]);
  });

  it("stops a command at its hard timeout and says so", async () => {
    const notices: string[] = [];
    const run = await launch("ses_c4", "sleep 30", { timeoutMs: 600, notices });
    const result = await run.result;
    expect(result).toMatchObject({ status: "timed_out", exitCode: 130 });
    const timeout = await t.waitForEvent("exec.timeout", (e) => e.execId === run.execId);
    expect(timeout.timeoutMs).toBe(600);
    expect(steps(run.execId)[0]).toBe("interrupt");
    expect(notices.join("\n")).toMatch(/time limit of 1 s/);
  });

  it("reports a command that has printed nothing for a while, with the screen", async () => {
    const { result } = await t.run("ses_c5", "echo waiting-for-it; sleep 1.5; echo done");
    expect(result.exitCode).toBe(0);
    const notice = await t.waitForEvent("exec.no_output", (e) => e.execId === result.execId);
    expect(notice.silentMs).toBeGreaterThanOrEqual(400);
    expect(notice.screen).toContain("waiting-for-it");
  });

  it("cancels the command of a caller that disconnects", async () => {
    const abort = new AbortController();
    const run = await launch("ses_c6", "sleep 30", { signal: abort.signal });
    abort.abort();
    const finished = await t.waitForEvent("exec.finished", (e) => e.execId === run.execId);
    expect(finished.result.status).toBe("cancelled");
    expect(t.events.some((e) => e.type === "exec.cancel" && e.execId === run.execId && e.by === "disconnect")).toBe(true);
  });
});

describe("a caller that stops reading", () => {
  it("is still owed the output of an ended command; a cancel finishes the command as it ended, and the output still arrives whole", async () => {
    const S = "ses_slow";
    const n = 3_000_000;
    const command = `seq 1 ${n}`;
    const callId = nextCall();
    await t.grant(S, callId, command);
    const body = JSON.stringify({ session: S, callId, command, cwd: t.workspace });
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ socketPath: t.socket, method: "POST", path: "/v1/exec", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, resolve);
      req.on("error", reject);
      req.end(body);
    });
    res.pause();
    const run = () => t.runner.session(S)?.current;
    await until(() => run()?.hasEnded() === true, "the command's end");
    // ended, but what the caller has not read holds the result back
    expect(t.events.some((e) => e.type === "exec.finished" && e.callId === callId)).toBe(false);

    await t.client.cancel({ session: S, callId });
    const finished = await t.waitForEvent("exec.finished", (e) => e.callId === callId);
    expect(finished.result).toMatchObject({ status: "exited", exitCode: 0 });
    expect(t.events.some((e) => e.type === "exec.cancel" && e.callId === callId)).toBe(false);

    const decoder = new FrameDecoder();
    const hash = createHash("sha256");
    let result: ExecResult | null = null;
    res.resume();
    for await (const chunk of res as AsyncIterable<Buffer>) {
      for (const f of decoder.push(chunk)) {
        if (f.type === frameTypes.output) hash.update(f.payload);
        if (f.type === frameTypes.result) result = ExecResult.parse(JSON.parse(f.payload.toString()));
      }
    }
    expect(result).toEqual(finished.result);
    expect(hash.digest("hex")).toBe(finished.result.outputSha256);
    expect((await t.run(S, "echo next")).text).toBe("next\n");
  }, 60_000);
});

describe("queue", () => {
  it("runs one command at a time, queues 50 more, refuses the next with BUSY, then runs the queue in order", async () => {
    const S = "ses_queue";
    const blocker = await launch(S, "sleep 30");
    const queued: { callId: string; n: number; result: Promise<ExecResult> }[] = [];
    for (let n = 0; n < 50; n++) {
      const callId = nextCall();
      const command = `echo queued-${n}`;
      await t.grant(S, callId, command);
      const result = t.client.exec({ session: S, callId, command, cwd: t.workspace });
      queued.push({ callId, n, result });
    }
    await t.waitForEvent("exec.queued", (e) => e.callId === queued[49]!.callId);
    expect((await t.client.sessions()).find((s) => s.session === S)).toMatchObject({ state: "running", queued: 50 });

    const extra = nextCall();
    await t.grant(S, extra, "echo one-too-many");
    const busy = await t.client.exec({ session: S, callId: extra, command: "echo one-too-many", cwd: t.workspace }).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(RunnerApiError);
    expect(busy).toMatchObject({ status: 429, code: "busy", exitCode: 126 });
    expect((busy as Error).message).toMatch(/busy: 50 commands are already waiting/);

    await t.client.cancel({ session: S, callId: blocker.callId });
    const results = await Promise.all(queued.map((q) => q.result));
    results.forEach((r, n) => expect(r).toMatchObject({ status: "exited", exitCode: 0, head: `queued-${n}\n` }));
    const blockerResult = await blocker.result;
    for (let n = 0; n < 50; n++) {
      const prevEnd = n === 0 ? blockerResult.finishedAt : results[n - 1]!.finishedAt;
      expect(Date.parse(results[n]!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(prevEnd));
    }
  }, 120_000);

  it("drops a queued command that is cancelled before it starts, without using its grant", async () => {
    const S = "ses_queue2";
    const blocker = await launch(S, "sleep 30");
    const callId = nextCall();
    await t.grant(S, callId, "echo never");
    const waiting = t.client.exec({ session: S, callId, command: "echo never", cwd: t.workspace });
    await t.waitForEvent("exec.queued", (e) => e.callId === callId);
    expect(await t.client.cancel({ session: S, callId })).toMatchObject({ cancelled: true, state: "queued" });
    expect(await waiting).toMatchObject({ status: "cancelled", exitCode: null, startedAt: null, logPath: null });
    expect(t.events.some((e) => e.type === "exec.started" && e.callId === callId)).toBe(false);
    await t.client.cancel({ session: S, callId: blocker.callId });
    await blocker.result;
  });
});

// Restarting the runner kills neither tmux nor a running command: the new runner adopts both,
// the shim reconnects and gets the rest of the output once, and the result is reported as an event.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commandSha256, RunnerClient } from "../src/client.ts";
import type { RunnerEvent } from "../src/protocol.ts";
import { nextCall, shimPath, startTestRunner, token, type TestRunner } from "./harness.ts";

function runShim(env: Record<string, string>, command: string, cwd: string) {
  const child = spawn(shimPath, ["-c", command], { cwd, env: { PATH: process.env.PATH!, ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const exit = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return { child, exit, out: () => stdout, err: () => stderr };
}

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("restart in process", () => {
  let t: TestRunner;
  beforeAll(async () => {
    t = await startTestRunner();
  });
  afterAll(() => t?.cleanup());

  it("a command running across a runner restart still delivers its output and result", async () => {
    const S = "ses_restart";
    await t.run(S, "export KEPT_ACROSS=yes");
    const callId = nextCall();
    const command = "seq 1 2000; echo before; sleep 1.5; echo after; (exit 5)";
    await t.grant(S, callId, command);
    const shim = runShim({ POCKETCODER_RUNNER: t.socket, POCKETCODER_SESSION_ID: S, POCKETCODER_CALL_ID: callId }, command, t.workspace);
    await until(() => shim.out().endsWith("before\n"), "the output before the pause");
    const execId = (await t.waitForEvent("exec.started", (e) => e.callId === callId)).execId;
    const oldBoot = t.runner.bootId;

    await t.restart();
    // what the next runner starts from: the output file, and how much of it was consumed (shown in the pane)
    const seqText = execFileSync("seq", ["1", "2000"]).toString();
    const record = JSON.parse(readFileSync(join(t.dir, "state/execs", `${execId}.json`), "utf8")) as { outPath: string; outConsumed: number; result: unknown };
    expect(record).toMatchObject({ outPath: join(t.dir, "state/spool", S, `${execId}.out`), outConsumed: seqText.length + "before\n".length, result: null });
    expect(t.runner.bootId).not.toBe(oldBoot);
    const adopted = await t.waitForEvent("runner.adopted", (e) => e.inflight.includes(execId));
    expect(adopted.sessions).toContain(S);

    expect(await shim.exit).toBe(5);
    expect(shim.out()).toBe(`${seqText}before\nafter\n`);
    const finished = await t.waitForEvent("exec.finished", (e) => e.execId === execId);
    expect(finished.result).toMatchObject({ status: "exited", exitCode: 5, head: `${seqText}before\nafter\n` });
    expect((await t.client.execLog(execId)).toString()).toBe(`${seqText}before\nafter\n`);
    // the pane showed each line once: the new runner went on from where the old one had stopped
    const pane = (await t.client.sessions()).find((s) => s.session === S)!.paneId;
    const screen = execFileSync("tmux", ["-S", t.runner.tmux.socket, "capture-pane", "-p", "-J", "-S", "-", "-t", pane]).toString().split("\n");
    expect(screen.filter((l) => l === "before")).toHaveLength(1);
    expect(screen.filter((l) => l === "after")).toHaveLength(1);
    expect((await t.run(S, 'echo "$KEPT_ACROSS"')).text).toBe("yes\n");
  });
});

describe("restart of the real entry point after SIGKILL", () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "pc-main-")));
  const workspace = join(dir, "ws");
  const socket = join(dir, "state", "runner.sock");
  const env = {
    ...process.env,
    POCKETCODER_WORKSPACE: workspace,
    POCKETCODER_RUNNER_STATE: join(dir, "state"),
    POCKETCODER_RUNNER_TOKEN: token,
    POCKETCODER_LOG_LEVEL: "warn",
  };
  let runnerProcess: ChildProcess | null = null;

  const startMain = async () => {
    runnerProcess = spawn(process.execPath, ["--import", "tsx", resolve(import.meta.dirname, "../src/main.ts")], { env, stdio: ["ignore", "ignore", "inherit"] });
    const client = new RunnerClient(socket, token);
    const end = Date.now() + 20_000;
    for (;;) {
      try {
        return { client, health: await client.health() };
      } catch (e) {
        if (Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  beforeAll(() => mkdirSync(workspace));
  afterAll(async () => {
    runnerProcess?.kill("SIGKILL");
    await new Promise<void>((r) => spawn("tmux", ["-S", join(dir, "state/tmux/sock"), "kill-server"]).on("exit", () => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports the result of a command that outlived a killed runner", async () => {
    const first = await startMain();
    const S = "ses_killed";
    const callId = nextCall();
    const command = "sleep 1; echo survived";
    await first.client.grant({ session: S, callId, sha256: commandSha256(command), cwd: workspace, expiresAt: new Date(Date.now() + 60_000).toISOString() });
    const pending = first.client.exec({ session: S, callId, command, cwd: workspace }).catch((e: unknown) => e);
    const started = first.client.events({ after: 0 });
    let execId = "";
    let lastSeq = 0;
    for await (const e of started) {
      lastSeq = e.seq ?? lastSeq;
      if (e.type === "exec.started" && e.callId === callId) {
        execId = e.execId;
        break;
      }
    }
    runnerProcess!.kill("SIGKILL");
    expect(await pending).toBeInstanceOf(Error);

    const second = await startMain();
    expect(second.health.bootId).not.toBe(first.health.bootId);
    const seen: RunnerEvent[] = [];
    for await (const e of second.client.events({ after: lastSeq })) {
      seen.push(e);
      if (e.type === "exec.finished" && e.execId === execId) break;
    }
    const finished = seen.find((e) => e.type === "exec.finished");
    expect(finished?.type === "exec.finished" && finished.result).toMatchObject({ status: "exited", exitCode: 0, head: "survived\n" });
    expect(seen.some((e) => e.type === "runner.adopted" && e.inflight.includes(execId))).toBe(true);
  });
});

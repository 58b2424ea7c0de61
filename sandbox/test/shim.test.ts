// The shell shim as OpenCode runs it: `pocketcoder-shell -c COMMAND` with the ids in its environment.
import { execFileSync, spawn } from "node:child_process";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeServer, createApi, listen } from "../src/http-server.ts";
import { silentLogger } from "../src/log.ts";
import { nextCall, shimPath, startTestRunner, token, type TestRunner } from "./harness.ts";

let t: TestRunner;
const S = "ses_shim";

beforeAll(async () => {
  t = await startTestRunner();
  await t.client.ensureSession(S);
});
afterAll(() => t?.cleanup());

interface ShimRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  /** stdout received before the process exited, in arrival order with the exit marked */
  timeline: string[];
}

function shim(args: string[], env: Record<string, string> = {}, onSpawn?: (pid: number) => void): Promise<ShimRun> {
  return new Promise((resolve) => {
    const child = spawn(shimPath, args, { cwd: t.workspace, env: { PATH: process.env.PATH!, ...env } });
    const out: Buffer[] = [];
    const timeline: string[] = [];
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (out.push(b), timeline.push(b.toString())));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr, timeline: [...timeline, "<exit>"] }));
    onSpawn?.(child.pid!);
  });
}

async function granted(command: string, endpoint = t.socket) {
  const callId = nextCall();
  await t.grant(S, callId, command);
  return { POCKETCODER_RUNNER: endpoint, POCKETCODER_SESSION_ID: S, POCKETCODER_CALL_ID: callId };
}

describe("pocketcoder-shell", () => {
  it("refuses anything but -c COMMAND", async () => {
    for (const args of [[], ["-i"], ["-c"], ["-l", "-c", "true"], ["-c", "true", "extra"], ["script.sh"]]) {
      const r = await shim(args, { POCKETCODER_RUNNER: t.socket });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/only `pocketcoder-shell -c COMMAND` is supported/);
    }
  });

  it("refuses to run without the runner address or the ids", async () => {
    const noRunner = await shim(["-c", "true"], { POCKETCODER_SESSION_ID: S, POCKETCODER_CALL_ID: "x" });
    expect(noRunner).toMatchObject({ code: 126 });
    expect(noRunner.stderr).toMatch(/POCKETCODER_RUNNER is not set/);
    const noIds = await shim(["-c", "true"], { POCKETCODER_RUNNER: t.socket });
    expect(noIds.code).toBe(126);
    expect(noIds.stderr).toMatch(/plugin loaded/);
  });

  it("runs a granted command, streams its output and exits with its status", async () => {
    const command = "echo one; sleep 0.5; echo two >&2; (exit 3)";
    const r = await shim(["-c", command], await granted(command));
    expect(r.code).toBe(3);
    expect(r.stdout.toString()).toBe("one\ntwo\n");
    // "one" arrives while the command still sleeps (its line break waits for the next bytes: it could be the end marker's)
    expect(r.timeline[0]).toMatch(/^one/);
    expect(r.timeline.at(-1)).toBe("<exit>");
    expect(r.timeline.length).toBeGreaterThan(2);
  });

  it("passes large output through unchanged", async () => {
    const command = "seq 1 200000";
    const r = await shim(["-c", command], await granted(command));
    expect(r.code).toBe(0);
    expect(r.stdout.equals(execFileSync("seq", ["1", "200000"], { maxBuffer: 16 << 20 }))).toBe(true);
  });

  it("exits 126 with the runner's reason when there is no grant", async () => {
    const r = await shim(["-c", "echo sneaky"], { POCKETCODER_RUNNER: t.socket, POCKETCODER_SESSION_ID: S, POCKETCODER_CALL_ID: nextCall() });
    expect(r.code).toBe(126);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(/^pocketcoder-shell: no approval exists for call \S+; the command did not run\n$/);
  });

  it("exits 126 for a command that is not UTF-8", async () => {
    // node cannot put invalid UTF-8 into argv, bash can
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn("bash", ["-c", `exec '${shimPath}' -c $'echo \\xff'`], {
        cwd: t.workspace,
        env: { PATH: process.env.PATH!, POCKETCODER_RUNNER: t.socket, POCKETCODER_SESSION_ID: S, POCKETCODER_CALL_ID: nextCall() },
      });
      let stderr = "";
      child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      child.on("close", (code) => resolve({ code, stderr }));
    });
    expect(r.code).toBe(126);
    expect(r.stderr).toMatch(/not valid UTF-8/);
  });

  it("turns SIGTERM into a cancel and exits with the interrupted status", async () => {
    const command = "sleep 30";
    const env = await granted(command);
    const r = await shim(["-c", command], env, (pid) => {
      void t.waitForEvent("exec.started", (e) => e.callId === env.POCKETCODER_CALL_ID).then(() => process.kill(pid, "SIGTERM"));
    });
    expect(r.code).toBe(130);
    const cancel = await t.waitForEvent("exec.cancel", (e) => e.callId === env.POCKETCODER_CALL_ID);
    expect(cancel).toMatchObject({ by: "shim", step: "interrupt" });
  });

  it("reaches the runner over loopback TCP too", async () => {
    const server = createApi(t.runner, token, silentLogger);
    await listen(server, { kind: "tcp", host: "127.0.0.1", port: 0 });
    try {
      const { port } = server.address() as AddressInfo;
      for (const host of ["127.0.0.1", "localhost"]) {
        const command = `echo over-tcp via ${host}`;
        const r = await shim(["-c", command], await granted(command, `http://${host}:${port}`));
        expect(r).toMatchObject({ code: 0 });
        expect(r.stdout.toString()).toBe(`over-tcp via ${host}\n`);
      }
    } finally {
      await closeServer(server);
    }
  });
});

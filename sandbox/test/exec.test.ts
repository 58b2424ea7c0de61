// Commands through a real runner and a real tmux server: exit codes, shell state, output shapes,
// the full log versus the truncated reply, a dying shell, and the sandbox around the pane.
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nextCall, startTestRunner, type TestRunner } from "./harness.ts";

let t: TestRunner;
const S = "ses_exec";

beforeAll(async () => {
  t = await startTestRunner();
});
afterAll(() => t?.cleanup());

async function fileSha(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

describe("exec", () => {
  it("reports the command's exit code", async () => {
    expect((await t.run(S, "true")).result).toMatchObject({ status: "exited", exitCode: 0 });
    expect((await t.run(S, "false")).result.exitCode).toBe(1);
    expect((await t.run(S, "(exit 42)")).result.exitCode).toBe(42);
    expect((await t.run(S, "no-such-command-xyz")).result.exitCode).toBe(127);
  });

  it("keeps environment and shell functions between commands, starts each in its granted cwd, reports where it ended", async () => {
    const sub = join(t.workspace, "sub dir");
    await t.run(S, `mkdir -p '${sub}'`);
    const first = await t.run(S, `export POCKET_VAR=kept; greet() { echo "hi $1"; }; cd '${sub}'`);
    expect(first.result.cwd).toBe(sub);
    const second = await t.run(S, 'echo "$POCKET_VAR"; greet there; pwd');
    expect(second.text).toBe(`kept\nhi there\n${t.workspace}\n`);
    const third = await t.run(S, "pwd", { cwd: sub });
    expect(third.text).toBe(`${sub}\n`);
  });

  it("returns multi-line, empty, unterminated and unicode output exactly", async () => {
    expect((await t.run(S, "printf 'a\\nb\\n\\nc\\n'")).text).toBe("a\nb\n\nc\n");
    const empty = await t.run(S, "true");
    expect(empty.text).toBe("");
    expect(empty.result).toMatchObject({ outputBytes: 0, head: "", tail: "", truncated: false });
    expect((await t.run(S, "printf abc")).text).toBe("abc");
    expect((await t.run(S, "printf 'café ✓\\n'")).text).toBe("café ✓\n");
    const heredoc = await t.run(S, "cat <<'EOF'\n$HOME `x` !!\nEOF");
    expect(heredoc.text).toBe("$HOME `x` !!\n");
  });

  it("captures stderr with stdout, in order", async () => {
    const r = await t.run(S, "echo out; echo err >&2; echo out2");
    expect(r.text).toBe("out\nerr\nout2\n");
    expect(r.result.head).toBe("out\nerr\nout2\n");
  });

  it("keeps the full terminal bytes in the log with their sha256 and strips escapes from the text", async () => {
    const r = await t.run(S, "printf '\\033[31mred\\033[0m\\n'");
    expect(r.text).toBe("red\n");
    const raw = readFileSync(r.result.logPath!);
    expect(raw.toString("latin1")).toBe("\x1b[31mred\x1b[0m\r\n");
    expect(r.result.outputBytes).toBe(raw.length);
    expect(r.result.outputSha256).toBe(createHash("sha256").update(raw).digest("hex"));
    expect((await t.client.execLog(r.result.execId)).equals(raw)).toBe(true);
  });

  it("keeps a ≥ 50 MB output intact in the full log and returns head + tail in the reply", async () => {
    const n = 6_500_000;
    const callId = nextCall();
    const command = `seq 1 ${n}`;
    await t.grant(S, callId, command);
    let streamed = 0;
    const streamHash = createHash("sha256");
    const result = await t.client.exec(
      { session: S, callId, command, cwd: t.workspace },
      { onOutput: (b) => ((streamed += b.length), streamHash.update(b)) },
    );
    // what seq wrote, as the terminal carries it (LF → CRLF), and as text
    const termHash = createHash("sha256");
    const textHash = createHash("sha256");
    let termBytes = 0;
    let textBytes = 0;
    for (let start = 1; start <= n; start += 100_000) {
      let block = "";
      for (let i = start; i < Math.min(start + 100_000, n + 1); i++) block += `${i}\n`;
      textHash.update(block);
      textBytes += block.length;
      const crlf = block.replaceAll("\n", "\r\n");
      termHash.update(crlf);
      termBytes += crlf.length;
    }
    expect(termBytes).toBeGreaterThanOrEqual(50 * 1024 * 1024);
    expect(result.status).toBe("exited");
    expect(result.outputBytes).toBe(termBytes);
    expect(result.outputSha256).toBe(termHash.digest("hex"));
    expect(statSync(result.logPath!).size).toBe(termBytes);
    expect(await fileSha(result.logPath!)).toBe(result.outputSha256);
    expect(streamed).toBe(textBytes);
    expect(streamHash.digest("hex")).toBe(textHash.digest("hex"));
    expect(result.truncated).toBe(true);
    expect(Buffer.byteLength(result.head) + Buffer.byteLength(result.tail)).toBe(65_536);
    expect(result.head.startsWith("1\n2\n3\n")).toBe(true);
    expect(result.tail.endsWith(`${n - 1}\n${n}\n`)).toBe(true);
    expect(result.omittedBytes).toBe(textBytes - 65_536);
  }, 180_000);

  it("respawns a shell that exited, reports it, and runs the next command in a fresh shell", async () => {
    await t.run(S, "export BEFORE_EXIT=1");
    const r = await t.run(S, "echo bye; exit 7");
    expect(r.result).toMatchObject({ status: "shell_died", exitCode: 7 });
    expect(r.text).toContain("bye");
    await t.waitForEvent("pane.respawned", (e) => e.session === S && e.exitStatus === 7);
    const after = await t.run(S, 'echo "[${BEFORE_EXIT:-unset}]"');
    expect(after.text).toBe("[unset]\n");
  });

  it("holds a queued command until the shell a command exited has been replaced", async () => {
    const callId = nextCall();
    const exitingRun = t.run(S, "set -e; sleep 0.3; false", { callId });
    await t.waitForEvent("exec.started", (e) => e.callId === callId);
    const next = await t.run(S, "echo next-one");
    const exiting = await exitingRun;
    expect(exiting.result).toMatchObject({ status: "shell_died", exitCode: 1 });
    expect(next.result).toMatchObject({ status: "exited", exitCode: 0, head: "next-one\n" });
  });

  it("announces start and finish as events and streams live output events", async () => {
    const r = await t.run(S, "echo live-event-text");
    const started = await t.waitForEvent("exec.started", (e) => e.execId === r.result.execId);
    expect(started.cwd).toBe(t.workspace);
    const finished = await t.waitForEvent("exec.finished", (e) => e.execId === r.result.execId);
    expect(finished.result).toEqual(r.result);
    const live = await t.waitForEvent("exec.output", (e) => e.execId === r.result.execId);
    expect(live.text).toContain("live-event-text");
  });

  it("confines the shell: only the workspace is writable (bubblewrap), or says plainly that it is not confined", async () => {
    const health = await t.client.health();
    if (health.sandbox === "bwrap") {
      const r = await t.run(S, `touch ok-file && echo wrote; touch /usr/pc-evil 2>&1; echo x > '${join(t.dir, "state/run/cmds/evil.sh")}' 2>&1; ls /root 2>&1; cat /proc/1/cmdline | tr '\\0' ' '`);
      expect(r.text).toContain("wrote");
      expect(r.text).toMatch(/pc-evil.*Read-only file system/);
      expect(r.text).toMatch(/evil\.sh.*Read-only file system/);
      expect(r.text).toMatch(/\/root.*No such file or directory/);
      expect(r.text).toContain("bwrap");
    } else {
      const started = t.events.find((e) => e.type === "runner.started");
      expect(started && started.type === "runner.started" && started.warning).toMatch(/without isolation/);
    }
  });
});

describe("plain mode", () => {
  let p: TestRunner;
  beforeAll(async () => {
    p = await startTestRunner({ sandbox: "plain" });
  });
  afterAll(() => p?.cleanup());

  it("runs commands without bubblewrap and warns that it does", async () => {
    expect((await p.client.health()).sandbox).toBe("plain");
    const started = p.events.find((e) => e.type === "runner.started");
    expect(started?.type === "runner.started" && started.warning).toMatch(/without isolation/);
    const r = await p.run("ses_plain", 'echo "$POCKETCODER_SANDBOX"; (exit 3)');
    expect(r.text).toBe("plain\n");
    expect(r.result.exitCode).toBe(3);
  });
});

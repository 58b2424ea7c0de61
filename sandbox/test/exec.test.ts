// Commands through a real runner and a real tmux server: exit codes, shell state, output shapes,
// the full log versus the truncated reply, the copy shown in the pane, a dying shell, and the
// sandbox around the pane.
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, statSync, writeFileSync } from "node:fs";
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

/** Size and sha256 of what `seq 1 n` prints, computed here by running seq. */
async function seqDigest(n: number): Promise<{ bytes: number; sha256: string }> {
  const h = createHash("sha256");
  let bytes = 0;
  for await (const chunk of spawn("seq", ["1", String(n)], { stdio: ["ignore", "pipe", "inherit"] }).stdout) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: h.digest("hex") };
}

/** The pane's screen and scrollback as text. */
async function paneText(session: string): Promise<string> {
  const pane = (await t.client.sessions()).find((s) => s.session === session)!.paneId;
  return new Promise((resolve, reject) =>
    execFile("tmux", ["-S", t.runner.tmux.socket, "capture-pane", "-p", "-J", "-S", "-", "-t", pane], { maxBuffer: 64 << 20 }, (err, out) => (err ? reject(err) : resolve(out))),
  );
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
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

  it("captures stderr with stdout, in order, in the text and in the full log", async () => {
    const r = await t.run(S, "echo out; echo err >&2; echo out2");
    expect(r.text).toBe("out\nerr\nout2\n");
    expect(r.result.head).toBe("out\nerr\nout2\n");
    expect(readFileSync(r.result.logPath!, "utf8")).toBe("out\nerr\nout2\n");
  });

  it("gives commands a file, not a terminal, as stdout and stderr, and /dev/null as stdin", async () => {
    const r = await t.run(S, "[ -t 1 ] || echo no-tty-out; [ -t 2 ] || echo no-tty-err; [ -f /dev/stdout ] && echo file; cat; echo end");
    expect(r.text).toBe("no-tty-out\nno-tty-err\nfile\nend\n");
  });

  it("keeps the exact bytes the command wrote in the log with their sha256 and strips escapes from the text", async () => {
    const r = await t.run(S, "printf '\\033[31mred\\033[0m\\r\\n\\001bell\\a\\n'");
    expect(r.text).toBe("red\nbell\n");
    const raw = readFileSync(r.result.logPath!);
    expect(raw.toString("latin1")).toBe("\x1b[31mred\x1b[0m\r\n\x01bell\x07\n");
    expect(r.result.outputBytes).toBe(raw.length);
    expect(r.result.outputSha256).toBe(createHash("sha256").update(raw).digest("hex"));
    expect((await t.client.execLog(r.result.execId)).equals(raw)).toBe(true);
  });

  it("keeps a ≥ 50 MB output intact in the full log and the stream, and returns head + tail in the reply", async () => {
    const n = 7_000_000;
    const callId = nextCall();
    const command = `seq 1 ${n}`;
    await t.grant(S, callId, command);
    let streamed = 0;
    const streamHash = createHash("sha256");
    const result = await t.client.exec(
      { session: S, callId, command, cwd: t.workspace },
      { onOutput: (b) => ((streamed += b.length), streamHash.update(b)) },
    );
    const want = await seqDigest(n);
    expect(want.bytes).toBeGreaterThanOrEqual(50 * 1024 * 1024);
    expect(result.status).toBe("exited");
    expect(result.outputBytes).toBe(want.bytes);
    expect(result.outputSha256).toBe(want.sha256);
    expect(statSync(result.logPath!).size).toBe(want.bytes);
    expect(await fileSha(result.logPath!)).toBe(want.sha256);
    // seq prints nothing the text conversion changes
    expect(streamed).toBe(want.bytes);
    expect(streamHash.digest("hex")).toBe(want.sha256);
    expect(result.truncated).toBe(true);
    expect(Buffer.byteLength(result.head) + Buffer.byteLength(result.tail)).toBe(65_536);
    expect(result.head.startsWith("1\n2\n3\n")).toBe(true);
    expect(result.tail.endsWith(`${n - 1}\n${n}\n`)).toBe(true);
    expect(result.omittedBytes).toBe(want.bytes - 65_536);
  }, 180_000);

  it("shows the output in the pane while the command runs", async () => {
    const callId = nextCall();
    const command = "echo shown-in-the-pane; sleep 30";
    await t.grant(S, callId, command);
    const pending = t.client.exec({ session: S, callId, command, cwd: t.workspace });
    await until(async () => (await paneText(S)).split("\n").includes("shown-in-the-pane"), "the line in the pane");
    await t.client.cancel({ session: S, callId });
    const result = await pending;
    expect(result.status).toBe("cancelled");
    expect(result.head).toMatch(/^shown-in-the-pane\n/);
  });

  it("says in the pane how much of a flood it did not show, and keeps the whole flood in the log", async () => {
    const n = 3_000_000;
    const { result } = await t.run(S, `seq 1 ${n}`);
    const want = await seqDigest(n);
    expect(result).toMatchObject({ status: "exited", outputBytes: want.bytes, outputSha256: want.sha256 });
    expect(await fileSha(result.logPath!)).toBe(want.sha256);
    const line = new RegExp(`^\\[pocketcoder: [0-9.]+ MB not shown here; full log: ${result.logPath!.replaceAll(".", "\\.")}\\]$`, "m");
    await until(async () => line.test(await paneText(S)), "the not-shown line in the pane");
  }, 120_000);

  it("reports only what a command wrote before it ended: later output of its background jobs goes nowhere else", async () => {
    const first = await t.run(S, "echo early; sh -c '(sleep 0.5; echo late) &'");
    expect(first.text).toBe("early\n");
    const next = await t.run(S, "sleep 1; echo next");
    expect(next.text).toBe("next\n");
    expect((await t.client.execLog(first.result.execId)).toString()).toBe("early\n");
    expect(first.result.outputSha256).toBe(createHash("sha256").update("early\n").digest("hex"));
  });

  it("never follows a symlink a command put in place of its output file: the log is refused, not the link's target", async () => {
    const secret = join(t.dir, "runner-only.txt");
    writeFileSync(secret, "runner secret\n", { mode: 0o600 });
    const r = await t.run(S, `echo before; rm -f "$__pc_spool/$__pc_id.out"; ln -s ${secret} "$__pc_spool/$__pc_id.out"; echo after`);
    expect(r.result).toMatchObject({ status: "exited", exitCode: 0 });
    expect(r.text).toBe("before\nafter\n");
    await expect(t.client.execLog(r.result.execId)).rejects.toMatchObject({ status: 404 });
  });

  it("does not hang on a named pipe a command put in place of its output file: the log is refused, the runner carries on", async () => {
    const r = await t.run(S, `echo before; rm -f "$__pc_spool/$__pc_id.out"; mkfifo "$__pc_spool/$__pc_id.out"; echo after`);
    expect(r.result).toMatchObject({ status: "exited", exitCode: 0 });
    await expect(t.client.execLog(r.result.execId)).rejects.toMatchObject({ status: 404 });
    expect((await t.run(S, "echo still-here")).text).toBe("still-here\n");
  });

  it("carries on after a command pointed the shell's stdout and stderr elsewhere or closed them", async () => {
    // the shell keeps its FIFO on fd 10 and its terminal on 11 and 12: re-pointed, closed, taken for a lock file
    const r = await t.run(S, "exec >/dev/null 2>&1; exec 10>lock-file 11>/dev/null 12>&-; echo gone");
    expect(r.result).toMatchObject({ status: "exited", exitCode: 0 });
    expect(r.text).toBe("");
    expect((await t.run(S, "echo back; echo err >&2")).text).toBe("back\nerr\n");
  });

  it("does not take an end marker the command prints as output for its own", async () => {
    const r = await t.run(S, `printf '\\036PC_END %s 9 Lw==\\036\\n' "$__pc_id"; echo real`);
    expect(r.result).toMatchObject({ status: "exited", exitCode: 0, cwd: t.workspace });
    expect(r.text).toMatch(/PC_END [0-9a-f]{16} 9 Lw==\nreal\n$/);
  });

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
      const r = await t.run(S, `touch ok-file && echo wrote; touch /usr/pc-evil 2>&1; echo x > '${join(t.dir, "state/run/cmds/evil.sh")}' 2>&1; ls /root 2>&1; ls '${join(t.dir, "state/out")}' 2>&1; cat /proc/1/cmdline | tr '\\0' ' '`);
      expect(r.text).toContain("wrote");
      expect(r.text).toMatch(/pc-evil.*Read-only file system/);
      expect(r.text).toMatch(/evil\.sh.*Read-only file system/);
      expect(r.text).toMatch(/\/root.*No such file or directory/);
      // finished commands' logs are out of reach; only running commands' output files are visible
      expect(r.text).toMatch(/state\/out.*No such file or directory/);
      expect(r.text).toContain("bwrap");
    } else {
      const started = t.events.find((e) => e.type === "runner.started");
      expect(started && started.type === "runner.started" && started.warning).toMatch(/without isolation/);
    }
  });
});

describe("output spools", () => {
  it("keep each session's running output to itself: another session can neither list, read nor change it (bubblewrap)", async () => {
    const other = "ses_spool_other";
    const callId = nextCall();
    const command = "echo other-secret; sleep 2";
    await t.grant(other, callId, command);
    const running = t.client.exec({ session: other, callId, command, cwd: t.workspace });
    const { execId } = await t.waitForEvent("exec.started", (e) => e.callId === callId);
    const theirs = join(t.dir, "state/spool", other, `${execId}.out`);
    await until(async () => statSync(theirs, { throwIfNoEntry: false })?.size === "other-secret\n".length, "the other session's output file");
    const r = await t.run(S, `ls '${join(t.dir, "state/spool")}'; cat '${theirs}' 2>&1; echo tampered >> '${theirs}' 2>&1; echo done`);
    if ((await t.client.health()).sandbox === "bwrap") {
      expect(r.text.split("\n")[0]).toBe(S);
      expect(r.text).not.toContain("other-secret");
      expect(r.text).toMatch(/No such file or directory[\s\S]*No such file or directory[\s\S]*done/);
      expect(await running).toMatchObject({ exitCode: 0, head: "other-secret\n" });
    } else {
      const started = t.events.find((e) => e.type === "runner.started");
      expect(started && started.type === "runner.started" && started.warning).toMatch(/without isolation/);
      await running;
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

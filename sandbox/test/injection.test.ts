// Command texts that trip up tmux, readline or a terminal (notes A6). Each must either run
// literally, byte for byte, or be refused before any pane sees anything, even with a valid grant.
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunnerApiError } from "../src/client.ts";
import { nextCall, startTestRunner, type TestRunner } from "./harness.ts";

let t: TestRunner;
const S = "ses_inject";

beforeAll(async () => {
  t = await startTestRunner();
  await t.run(S, "true");
});
afterAll(() => t?.cleanup());

describe("runs literally", () => {
  it("tmux key names are just words", async () => {
    expect((await t.run(S, "echo Enter C-c BSpace Escape Tab C-u")).text).toBe("Enter C-c BSpace Escape Tab C-u\n");
  });

  it("a leading -t is a command name, not a tmux option", async () => {
    const r = await t.run(S, "-t evil");
    expect(r.result.exitCode).toBe(127);
    expect(r.text).toMatch(/-t: command not found/);
  });

  it("a trailing ; and an escaped one stay in the command", async () => {
    expect((await t.run(S, "echo trailing;")).text).toBe("trailing\n");
    expect((await t.run(S, "echo a\\;")).text).toBe("a;\n");
    expect((await t.run(S, ";")).result.exitCode).toBe(2);
  });

  it("tmux formats, history expansion and newlines are not interpreted by anything but bash", async () => {
    expect((await t.run(S, "echo '#{pane_pid} ~ {'")).text).toBe("#{pane_pid} ~ {\n");
    expect((await t.run(S, "echo first; echo !!")).text).toBe("first\n!!\n");
    expect((await t.run(S, "echo one\necho two")).text).toBe("one\ntwo\n");
  });

  it("very long lines run whole (15 000 characters, one line)", async () => {
    const word = "x".repeat(15_000);
    const r = await t.run(S, `echo ${word}`);
    expect(r.text).toBe(`${word}\n`);
    const many = Array.from({ length: 400 }, (_, i) => `echo line-${i}-${"y".repeat(20)}`).join("\n");
    const m = await t.run(S, many);
    expect(m.text.split("\n").filter(Boolean)).toHaveLength(400);
  });
});

describe("refused before any pane sees it", () => {
  const cases: [string, string, RegExp][] = [
    ["a bracketed-paste end sequence", "echo a\x1b[201~\recho pwned", /U\+001B/],
    ["Ctrl-U wiping the visible line", "echo SHOWN\x15rm -rf ./important", /U\+0015/],
    ["a carriage return", "echo a\rrm -rf x", /U\+000D/],
    ["DEL", "echo a\x7f", /U\+007F/],
    ["a C1 control (CSI)", "echo \u009b31m", /U\+009B/],
    ["a bidi override", "echo \u202eevil", /U\+202E/],
    ["a NUL byte", "echo a\x00b", /U\+0000/],
  ];

  it.each(cases)("%s", async (_name, command, why) => {
    const before = await t.paneLogBytes(S);
    const callId = nextCall();
    await t.grant(S, callId, command);
    const err = await t.client.exec({ session: S, callId, command, cwd: t.workspace }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunnerApiError);
    expect(err).toMatchObject({ status: 400, code: "bad_request" });
    expect((err as Error).message).toMatch(why);
    await new Promise((r) => setTimeout(r, 200));
    expect(await t.paneLogBytes(S)).toBe(before);
    expect(readdirSync(join(t.dir, "state/run/cmds"))).toEqual([]);
    expect(t.events.some((e) => "callId" in e && e.callId === callId)).toBe(false);
  });

  it("a command over 16 KB", async () => {
    const before = await t.paneLogBytes(S);
    const command = `echo ${"z".repeat(17_000)}`;
    const callId = nextCall();
    await t.grant(S, callId, command);
    const err = await t.client.exec({ session: S, callId, command, cwd: t.workspace }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 413, code: "too_large" });
    expect((err as Error).message).toMatch(/17005 bytes; the limit is 16384/);
    await new Promise((r) => setTimeout(r, 200));
    expect(await t.paneLogBytes(S)).toBe(before);
  });

  it("the session still works afterwards", async () => {
    expect((await t.run(S, "echo fine")).text).toBe("fine\n");
  });
});

describe("the project folder cannot rebind the shell's keys", () => {
  it("a .inputrc in the workspace (the panes' HOME) binds nothing in a new shell", async () => {
    // A macro on Return would append a command of its own to the line the runner types.
    writeFileSync(join(t.workspace, ".inputrc"), '"\\C-m": " ; touch INJECTED\\n"\n');
    try {
      expect((await t.run("ses_inputrc", "echo plain")).text).toBe("plain\n");
      expect((await t.run("ses_inputrc", "sleep 0.2; echo again")).text).toBe("again\n");
      expect(existsSync(join(t.workspace, "INJECTED"))).toBe(false);
    } finally {
      rmSync(join(t.workspace, ".inputrc"));
    }
  });
});

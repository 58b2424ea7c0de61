// The real `opencode serve` with the shim as its shell and the shell.env plugin: the scripted model
// asks for bash, the test plays the bot (grant on permission.asked, then reply `once`), the command
// runs in the runner's tmux pane, and its output is what the model gets back. A `once` without a
// grant (an agent that skipped the bot) runs nothing and the model is told why.
import { existsSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestOpencode, type TestOpencode } from "@pocketcoder/testkit/opencode";
import { match, plan, startScriptedLlm, type ScriptedLlm } from "@pocketcoder/testkit/scripted-llm";
import { commandSha256 } from "../src/client.ts";
import { shimPath, startTestRunner, type TestRunner } from "./harness.ts";

const pluginPath = realpathSync(join(import.meta.dirname, "../plugin/pocketcoder-shell-env.js"));

interface Asked {
  id: string;
  sessionID: string;
  permission: string;
  metadata: { command?: string };
  tool?: { callID: string };
}

let t: TestRunner;
let llm: ScriptedLlm;
let oc: TestOpencode;
const abort = new AbortController();
/** What the test does with each bash permission request, by command: grant it, or only open the session. */
const policy = new Map<string, "grant" | "skip-grant">();
const asked: Asked[] = [];

async function watchPermissions(): Promise<void> {
  const { stream } = await oc.client.global.event({ signal: abort.signal, sseMaxRetryAttempts: 1 });
  for await (const frame of stream as AsyncIterable<{ payload?: { type?: string; properties?: Asked } }>) {
    const ev = frame.payload;
    if (ev?.type !== "permission.asked" || !ev.properties) continue;
    const p = ev.properties;
    asked.push(p);
    const command = p.metadata.command ?? "";
    if (p.permission === "bash" && policy.get(command) === "grant") {
      await t.client.grant({ session: p.sessionID, callId: p.tool!.callID, sha256: commandSha256(command), cwd: t.workspace, expiresAt: new Date(Date.now() + 60_000).toISOString() });
    } else {
      await t.client.ensureSession(p.sessionID);
    }
    await oc.client.permission.reply({ requestID: p.id, directory: t.workspace, reply: "once" });
  }
}

async function until<T>(get: () => T | undefined, what: string, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  t = await startTestRunner();
  llm = await startScriptedLlm();
  oc = await startTestOpencode({ llm, directory: t.workspace, shellPath: shimPath, pluginPaths: [pluginPath], env: { POCKETCODER_RUNNER: t.socket } });
  void watchPermissions().catch(() => {});
}, 120_000);

afterAll(async () => {
  abort.abort();
  await oc?.stop();
  await llm?.close();
  await t?.cleanup();
});

async function turn(title: string, command: string, callId: string): Promise<{ sessionID: string; output: string }> {
  llm.reply.toolCall("bash", { command, description: title }, { id: callId });
  llm.on(match.afterToolResult(), plan.text(`${title}: seen`), { once: true });
  const session = await oc.client.session.create({ directory: t.workspace, title });
  const sessionID = session.data!.id;
  await oc.client.session.promptAsync({ sessionID, directory: t.workspace, parts: [{ type: "text", text: title }] });
  const output = await until(() => llm.toolResults().find((r) => r.toolCallId === callId)?.content, `the tool result of ${callId}`);
  return { sessionID, output };
}

describe("opencode → shim → runner → tmux", () => {
  it("runs the granted bash call in the session's tmux pane and returns its output to the model", async () => {
    const command = 'echo "inside the $POCKETCODER_SANDBOX pane"; echo $((6*7)) > answer.txt; cat answer.txt; pwd';
    policy.set(command, "grant");
    const { sessionID, output } = await turn("granted", command, "call_granted");

    const mode = (await t.client.health()).sandbox;
    expect(output).toContain(`inside the ${mode} pane\n42\n${t.workspace}`);
    const started = await t.waitForEvent("exec.started", (e) => e.callId === "call_granted");
    expect(started).toMatchObject({ session: sessionID, sha256: commandSha256(command), cwd: t.workspace });
    const finished = await t.waitForEvent("exec.finished", (e) => e.callId === "call_granted");
    expect(finished.result).toMatchObject({ status: "exited", exitCode: 0 });
    expect(finished.result.head).toContain("42");
    const session = (await t.client.sessions()).find((s) => s.session === sessionID);
    expect(session?.tmuxSession).toMatch(/^pc-/);
    expect(asked.find((a) => a.tool?.callID === "call_granted")?.metadata.command).toBe(command);
  }, 120_000);

  it("runs nothing when the permission is answered without a grant, and the model reads why", async () => {
    const command = "touch should-not-exist.txt";
    policy.set(command, "skip-grant");
    const { output } = await turn("ungranted", command, "call_ungranted");

    expect(output).toMatch(/no approval exists for call call_ungranted; the command did not run/);
    const refused = await t.waitForEvent("exec.refused", (e) => e.callId === "call_ungranted");
    expect(refused.reason).toBe("no_grant");
    expect(t.events.some((e) => e.type === "exec.started" && e.callId === "call_ungranted")).toBe(false);
    expect(existsSync(join(t.workspace, "should-not-exist.txt"))).toBe(false);
  }, 120_000);
});

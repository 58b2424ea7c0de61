// The firewall: a command runs only with the bot's grant for exactly its bytes, session, call and
// cwd, unexpired and unused. Everything else is refused with exit code 126 and a security event,
// and the API turns bad input and wrong tokens into clear errors.
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commandSha256, RunnerApiError, RunnerClient } from "../src/client.ts";
import type { RunnerEvent } from "../src/protocol.ts";
import { nextCall, startTestRunner, token, type TestRunner } from "./harness.ts";

let t: TestRunner;
const S = "ses_grants";

beforeAll(async () => {
  t = await startTestRunner();
  await t.client.ensureSession(S);
  await t.client.ensureSession("ses_other");
});
afterAll(() => t?.cleanup());

/** The pane log's size once the pane has stopped writing (a command that just ended may still be
 * drawing its prompt), so a later size says whether the refused exec wrote anything. */
async function settledPaneLogBytes(session: string): Promise<number> {
  let size = await t.paneLogBytes(session);
  for (let quiet = 0, waited = 0; quiet < 3 && waited < 3000; waited += 50) {
    await new Promise((r) => setTimeout(r, 50));
    const now = await t.paneLogBytes(session);
    quiet = now === size ? quiet + 1 : 0;
    size = now;
  }
  return size;
}

async function refused(exec: { session?: string; callId: string; command: string; cwd?: string }) {
  const before = await settledPaneLogBytes(exec.session ?? S);
  const err = await t.client.exec({ session: exec.session ?? S, callId: exec.callId, command: exec.command, cwd: exec.cwd ?? t.workspace }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(RunnerApiError);
  expect(err).toMatchObject({ exitCode: 126 });
  const event = await t.waitForEvent("exec.refused", (e) => e.callId === exec.callId);
  await new Promise((r) => setTimeout(r, 100));
  expect(await t.paneLogBytes(exec.session ?? S)).toBe(before);
  return { err: err as RunnerApiError, event };
}

const startedFor = (callId: string) => t.events.filter((e) => e.type === "exec.started" && e.callId === callId).length;

describe("grants", () => {
  it("refuses a command without a grant", async () => {
    const callId = nextCall();
    const { err, event } = await refused({ callId, command: "echo no-grant" });
    expect(err).toMatchObject({ status: 403, code: "refused" });
    expect(err.message).toMatch(/no approval exists/);
    expect(event).toMatchObject({ reason: "no_grant", sha256: commandSha256("echo no-grant"), cwd: t.workspace });
  });

  it("refuses a command one byte away from the granted one", async () => {
    const callId = nextCall();
    await t.grant(S, callId, "echo granted");
    const { event } = await refused({ callId, command: "echo grantee" });
    expect(event.reason).toBe("hash_mismatch");
    expect(startedFor(callId)).toBe(0);
  });

  it("refuses a grant used from another session", async () => {
    const callId = nextCall();
    await t.grant(S, callId, "echo mine");
    const { event } = await refused({ session: "ses_other", callId, command: "echo mine" });
    expect(event.reason).toBe("wrong_session");
  });

  it("refuses another cwd than the granted one", async () => {
    const callId = nextCall();
    await t.grant(S, callId, "echo where");
    const { event } = await refused({ callId, command: "echo where", cwd: "/" });
    expect(event.reason).toBe("cwd_mismatch");
  });

  it("refuses an expired grant", async () => {
    const callId = nextCall();
    await t.grant(S, callId, "echo late", { expiresAt: new Date(Date.now() + 800).toISOString() });
    await new Promise((r) => setTimeout(r, 1000));
    const { event } = await refused({ callId, command: "echo late" });
    expect(event.reason).toBe("expired");
  });

  it("runs the granted command exactly once and refuses the replay", async () => {
    const callId = nextCall();
    const marker = `${t.workspace}/ran-once`;
    const command = `echo x >> ${marker}; wc -l < ${marker}`;
    await t.grant(S, callId, command);
    const first = await t.client.exec({ session: S, callId, command, cwd: t.workspace });
    expect(first).toMatchObject({ status: "exited", exitCode: 0, head: "1\n" });
    const { event } = await refused({ callId, command });
    expect(event.reason).toBe("replayed");
    expect(startedFor(callId)).toBe(1);
    // a second grant for a used call is refused too
    await expect(t.grant(S, callId, command)).rejects.toMatchObject({ status: 409, code: "conflict" });
  });

  it("refuses an exec for a session nobody created", async () => {
    const callId = nextCall();
    const err = await t.client.exec({ session: "ses_nobody", callId, command: "true", cwd: t.workspace }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 404, code: "unknown_session", exitCode: 126 });
    const event = await t.waitForEvent("exec.refused", (e) => e.callId === callId);
    expect(event.reason).toBe("unknown_session");
  });

  it("a revoked grant no longer runs anything", async () => {
    const callId = nextCall();
    await t.grant(S, callId, "echo revoked");
    expect(await t.client.revokeGrant({ session: S, callId })).toBe(true);
    const { event } = await refused({ callId, command: "echo revoked" });
    expect(event.reason).toBe("no_grant");
  });

  it("refuses grants that are already expired or too long-lived", async () => {
    await expect(t.grant(S, nextCall(), "true", { expiresAt: new Date(Date.now() - 1000).toISOString() })).rejects.toMatchObject({ status: 400, message: /in the past/ });
    await expect(t.grant(S, nextCall(), "true", { expiresAt: new Date(Date.now() + 48 * 3_600_000).toISOString() })).rejects.toMatchObject({ status: 400, message: /more than 24 h/ });
  });
});

describe("grants that start the command (Grant.start)", () => {
  const startGrant = (callId: string, command: string, sha256 = commandSha256(command)) =>
    t.client.grant({ session: S, callId, sha256, cwd: t.workspace, expiresAt: new Date(Date.now() + 300_000).toISOString(), start: { command } });

  it("starts the command at once; the shim's exec joins it and gets all its output and its exit code", async () => {
    const callId = nextCall();
    const command = "echo one; sleep 0.5; echo two; (exit 3)";
    const { execId } = await startGrant(callId, command);
    const started = await t.waitForEvent("exec.started", (e) => e.callId === callId);
    expect(started.execId).toBe(execId);
    let text = "";
    const result = await t.client.exec({ session: S, callId, command, cwd: t.workspace }, { onOutput: (b) => (text += b.toString()) });
    expect(result).toMatchObject({ execId, status: "exited", exitCode: 3 });
    expect(text).toBe("one\ntwo\n");
    expect(startedFor(callId)).toBe(1);
  });

  it("lets the shim join a command that already finished, with its whole output", async () => {
    const callId = nextCall();
    const command = "echo done-early";
    await startGrant(callId, command);
    await t.waitForEvent("exec.finished", (e) => e.callId === callId);
    let text = "";
    const result = await t.client.exec({ session: S, callId, command, cwd: t.workspace }, { onOutput: (b) => (text += b.toString()) });
    expect(result).toMatchObject({ status: "exited", exitCode: 0 });
    expect(text).toBe("done-early\n");
  });

  it("lets the shim join a command the bot started that still waits behind another in the session", async () => {
    const first = nextCall();
    const second = nextCall();
    await startGrant(first, "sleep 0.5; echo first");
    await startGrant(second, "echo second");
    await t.waitForEvent("exec.started", (e) => e.callId === first);
    // OpenCode runs both calls at once: the shim asks for the second while it is queued.
    const joined = await t.client.exec({ session: S, callId: second, command: "echo second", cwd: t.workspace });
    expect(joined).toMatchObject({ status: "exited", exitCode: 0, head: "second\n" });
    expect(t.events.filter((e) => e.type === "exec.refused" && e.callId === second)).toEqual([]);
    expect(startedFor(second)).toBe(1);
    const again = await t.client.exec({ session: S, callId: second, command: "echo second", cwd: t.workspace }).catch((e: unknown) => e);
    expect(again).toMatchObject({ exitCode: 126 });
  });

  it("lets only one exec join, and only with the granted bytes and cwd", async () => {
    const callId = nextCall();
    const command = "sleep 0.3; echo joined";
    await startGrant(callId, command);
    // the command itself runs meanwhile, so the pane moves: only the refusals are checked here
    const refusedJoin = async (cmd: string, cwd = t.workspace) => {
      const err = await t.client.exec({ session: S, callId, command: cmd, cwd }).catch((e: unknown) => e);
      expect(err).toMatchObject({ exitCode: 126 });
      return t.events.filter((e) => e.type === "exec.refused" && e.callId === callId).at(-1);
    };
    expect(await refusedJoin("sleep 0.3; echo joinee")).toMatchObject({ reason: "hash_mismatch" });
    expect(await refusedJoin(command, "/")).toMatchObject({ reason: "cwd_mismatch" });
    expect(await t.client.exec({ session: S, callId, command, cwd: t.workspace })).toMatchObject({ exitCode: 0, head: "joined\n" });
    expect(await refusedJoin(command)).toMatchObject({ reason: "replayed" });
    expect(startedFor(callId)).toBe(1);
  });

  it("refuses a start whose bytes are not the granted sha256, and runs nothing", async () => {
    const callId = nextCall();
    await expect(startGrant(callId, "echo swapped", commandSha256("echo approved"))).rejects.toMatchObject({ status: 400, message: /start.command: its sha256 is not the grant's/ });
    await new Promise((r) => setTimeout(r, 200));
    expect(startedFor(callId)).toBe(0);
  });
});

function rawRequest(method: string, path: string, body: string | undefined, headers: Record<string, string> = {}): Promise<{ status: number; json: { error?: { code: string; message: string; field?: string } } }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: t.socket, method, path, headers: { "content-type": "application/json", ...headers } }, async (res) => {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString()) });
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("api", () => {
  it("answers health without a token", async () => {
    const health = await new RunnerClient(t.socket).health();
    expect(health).toMatchObject({ ok: true, apiVersion: 1 });
  });

  it("rejects bot routes without the right bearer token", async () => {
    await expect(new RunnerClient(t.socket).sessions()).rejects.toMatchObject({ status: 401, code: "unauthorized", message: /missing bearer token/ });
    await expect(new RunnerClient(t.socket, "wrong-token-wrong-token").sessions()).rejects.toMatchObject({ status: 401, message: "wrong bearer token" });
    await expect(new RunnerClient(t.socket, `${token}x`).grant({ session: S, callId: "c", sha256: "0".repeat(64), cwd: "/", expiresAt: new Date(Date.now() + 1000).toISOString() })).rejects.toMatchObject({ status: 401 });
  });

  it("explains malformed and invalid requests, naming the field", async () => {
    const malformed = await rawRequest("POST", "/v1/exec", "{not json");
    expect(malformed.status).toBe(400);
    expect(malformed.json.error?.message).toMatch(/malformed JSON/);
    const invalid = await rawRequest("POST", "/v1/exec", JSON.stringify({ session: "bad id!", callId: "c", command: "true", cwd: "/" }));
    expect(invalid.status).toBe(400);
    expect(invalid.json.error).toMatchObject({ code: "bad_request", field: "session" });
    const relative = await rawRequest("POST", "/v1/exec", JSON.stringify({ session: S, callId: "c", command: "true", cwd: "relative/dir" }));
    expect(relative.json.error?.message).toMatch(/cwd: must be an absolute path/);
    const tooLong = await rawRequest("POST", "/v1/exec", JSON.stringify({ session: S, callId: "c", command: "true", cwd: "/", timeoutMs: 700_000 }));
    expect(tooLong.json.error?.message).toMatch(/timeoutMs: must be at most 600000/);
    const huge = await rawRequest("POST", "/v1/exec", JSON.stringify({ session: S, callId: "c", command: "x".repeat(70_000), cwd: "/" }));
    expect(huge.status).toBe(413);
    const grant = await rawRequest("POST", "/v1/grants", JSON.stringify({ session: S, callId: "c", sha256: "abc", cwd: "/", expiresAt: "soon" }), { authorization: `Bearer ${token}` });
    expect(grant.json.error?.message).toMatch(/sha256: must be 64 lowercase hex digits/);
    expect(grant.json.error?.message).toMatch(/expiresAt/);
    const notUtf8 = await rawRequest("POST", "/v1/exec", Buffer.from([0x7b, 0xff, 0x7d]).toString("latin1"));
    expect(notUtf8.status).toBe(400);
    const unknownRoute = await rawRequest("GET", "/v1/nope", undefined, { authorization: `Bearer ${token}` });
    expect(unknownRoute.status).toBe(404);
  });

  it("lists sessions with how to watch them", async () => {
    const sessions = await t.client.sessions();
    const mine = sessions.find((s) => s.session === S);
    expect(mine).toMatchObject({ tmuxSession: "pc-grants", state: "idle" });
    expect(mine?.attach).toMatch(/^tmux -S \S+ attach -r -t =pc-grants$/);
  });

  it("streams events over SSE, replaying from a sequence number", async () => {
    const abort = new AbortController();
    const seen: RunnerEvent[] = [];
    const stream = (async () => {
      for await (const e of t.client.events({ after: 0, signal: abort.signal })) {
        seen.push(e);
        if (e.type === "exec.finished" && e.result.head === "over-sse\n") abort.abort();
      }
    })();
    await t.run(S, "echo over-sse");
    await stream;
    expect(seen[0]?.seq).toBe(1);
    expect(seen.some((e) => e.type === "runner.started")).toBe(true);
    expect(seen.some((e) => e.type === "exec.refused")).toBe(true);
    const last = seen.filter((e) => e.seq !== null).at(-1)!;
    const later: RunnerEvent[] = [];
    const abort2 = new AbortController();
    const resumed = (async () => {
      for await (const e of t.client.events({ after: last.seq!, signal: abort2.signal })) {
        later.push(e);
        abort2.abort();
      }
    })();
    await t.client.closeSession("ses_other");
    await resumed;
    expect(later[0]).toMatchObject({ type: "session.closed", session: "ses_other", seq: last.seq! + 1 });
  });
});

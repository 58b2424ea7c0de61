// Real processes against one SQLite file: a writer killed mid-stream, and two writers racing.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { Ledger } from "../../src/ledger/ledger.ts";
import { newRequest, openTestLedger, tempDir } from "./fixtures.ts";

const children = join(import.meta.dirname, "children");

function child(script: string, args: string[]): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", join(children, script), ...args], { stdio: ["pipe", "pipe", "inherit"] });
}

function exited(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
}

describe("a writer killed with SIGKILL", () => {
  it("leaves a chain that verifies and holds every append it acknowledged", async () => {
    const path = join(tempDir(), "pocketcoder.db");
    Ledger.open(path).close();
    const proc = child("append-loop.ts", [path]);
    const done = exited(proc);
    const acked: [seq: number, i: number][] = [];
    for await (const line of createInterface({ input: proc.stdout! })) {
      const [seq, i] = line.split(" ").map(Number);
      acked.push([seq!, i!]);
      if (acked.length === 3000) proc.kill("SIGKILL");
    }
    expect(await done).toEqual({ code: null, signal: "SIGKILL" });
    expect(acked.length).toBeGreaterThanOrEqual(3000);

    const ledger = Ledger.open(path);
    expect(ledger.db.pragma("integrity_check", { simple: true })).toBe("ok");
    const result = ledger.verify();
    expect(result.ok).toBe(true);
    const last = acked[acked.length - 1]!;
    // At most the one append that committed but was killed before its acknowledgement.
    expect(ledger.head().seq - last[0]).toBeGreaterThanOrEqual(0);
    expect(ledger.head().seq - last[0]).toBeLessThanOrEqual(1);
    const bodies = new Map([...ledger.entries()].map((e) => [e.seq, JSON.parse(e.body) as { i: number }]));
    for (const [seq, i] of acked) expect(bodies.get(seq)?.i).toBe(i);
    ledger.close();
  });
});

describe("two processes voting on the same requests at once", () => {
  it("never both dispatch a request: exactly one claim wins each", async () => {
    const { ledger, path } = openTestLedger();
    // The children judge expiry by the real clock.
    const ids = Array.from({ length: 150 }, () => ledger.createRequest(newRequest({ expiresAt: Date.now() + 3_600_000 })).id);
    const voters = ["@bob:example.org", "@carol:example.org"];
    const procs = voters.map((voter) => child("vote-and-claim.ts", [path, voter]));
    const done = procs.map(exited);
    const outputs = procs.map((p) => createInterface({ input: p.stdout! })[Symbol.asyncIterator]());
    const nextLine = async (k: number) => (await outputs[k]!.next()).value as string;
    expect(await Promise.all([nextLine(0), nextLine(1)])).toEqual(["ready", "ready"]);
    const results: { id: string; approved: boolean; claimed: boolean }[][] = [[], []];
    for (const id of ids) {
      for (const p of procs) p.stdin!.write(`${id}\n`);
      const lines = await Promise.all([nextLine(0), nextLine(1)]);
      lines.forEach((line, k) => results[k]!.push(JSON.parse(line)));
    }
    for (const p of procs) p.stdin!.end();
    expect(await Promise.all(done)).toEqual([
      { code: 0, signal: null },
      { code: 0, signal: null },
    ]);

    const tagged = results.flatMap((lines, k) => lines.map((r) => ({ ...r, voter: voters[k] })));
    for (const id of ids) {
      const claims = tagged.filter((r) => r.id === id && r.claimed);
      expect(claims, id).toHaveLength(1);
      expect(tagged.filter((r) => r.id === id && r.approved), id).toHaveLength(1);
      expect(ledger.getRequest(id)!.state).toBe("dispatching");
      expect(ledger.getExecution(id)!.claimedBy).toBe(claims[0]!.voter);
    }
    const claimsByEach = results.map((lines) => lines.filter((r) => r.claimed).length);
    expect(claimsByEach.reduce((a, b) => a + b)).toBe(ids.length);
    expect((ledger.db.prepare("SELECT count(*) AS n FROM executions").get() as { n: number }).n).toBe(ids.length);
    expect(ledger.verify()).toMatchObject({ ok: true });
  });
});

// `pocketcoder audit …` run as people run it: the real bin script in a child process.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/canonical-json.ts";
import { defaultMinEntries } from "../../src/ledger/verify-parallel.ts";
import { approvedRequest, okResult, openTestLedger, tempDir } from "./fixtures.ts";

const root = resolve(import.meta.dirname, "../../..");
const bin = join(root, "bot/bin/pocketcoder.js");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function pocketcoder(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

/** A closed ledger file with a few requests run to completion: 1 + 3 × 6 + 1 = 20 entries. */
function ledgerFile(path = join(tempDir(), "pocketcoder.db")): string {
  const { ledger } = openTestLedger(path);
  ledger.append("bot.start", "bot", {});
  for (let i = 0; i < 3; i++) {
    const id = approvedRequest(ledger, { input: `make step${i}` });
    ledger.claimExecution(id, "bot");
    ledger.markRunning(id, "bot");
    ledger.recordResult(id, "runner", okResult);
  }
  ledger.append("bot.stop", "bot", {});
  ledger.close();
  return path;
}

function tamper(path: string, sql: string): void {
  const { ledger } = openTestLedger(path);
  ledger.db.exec("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;");
  ledger.db.exec(sql);
  ledger.close();
}

describe("pocketcoder audit verify", () => {
  it("exits 0 on an intact chain, printing the count and the head", async () => {
    const path = ledgerFile();
    const tail = await pocketcoder(["audit", "tail", "-n", "1", "--db", path]);
    const head = JSON.parse(tail.stdout) as { seq: number; hash: string };
    const run = await pocketcoder(["audit", "verify", "--db", path]);
    expect(run).toEqual({ code: 0, stdout: `audit chain intact: 20 entries; head seq 20 hash ${head.hash}\n`, stderr: "" });
    expect(head.seq).toBe(20);
  });

  it("exits 1 naming the first bad entry and why", async () => {
    const path = ledgerFile();
    tamper(path, "UPDATE audit SET body = replace(body, 'make step1', 'make step1 && curl evil') WHERE seq = 8");
    const run = await pocketcoder(["audit", "verify", "--db", path]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^audit chain BROKEN at seq 8 \(content_hash_mismatch\): seq 8: content hash mismatch/);
    expect(run.stderr).toContain("7 entries before it verified");
  });

  it("detects a truncated tail with an anchors file made of earlier `audit tail` lines", async () => {
    const path = ledgerFile();
    const published = await pocketcoder(["audit", "tail", "-n", "2", "--db", path]);
    const anchors = join(tempDir(), "anchors.jsonl");
    writeFileSync(anchors, `# heads posted to the control room\n${published.stdout}`);
    expect(await pocketcoder(["audit", "verify", "--db", path, "--anchors", anchors])).toMatchObject({ code: 0, stdout: expect.stringContaining("20 entries, 2 anchors matched") });
    tamper(path, "DELETE FROM audit WHERE seq > 17");
    expect(await pocketcoder(["audit", "verify", "--db", path])).toMatchObject({ code: 0 });
    const run = await pocketcoder(["audit", "verify", "--db", path, "--anchors", anchors]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("audit chain BROKEN at seq 18 (missing_after_anchor)");
  });

  it("checks a chain long enough for worker threads, naming the first bad entry", async () => {
    const path = join(tempDir(), "pocketcoder.db");
    const { ledger } = openTestLedger(path);
    const n = defaultMinEntries;
    ledger.atomically(() => {
      for (let i = 0; i < n; i++) ledger.append("config.change", "bot", { i });
    });
    ledger.close();
    expect(await pocketcoder(["audit", "verify", "--db", path])).toMatchObject({ code: 0, stdout: expect.stringContaining(`audit chain intact: ${n} entries`) });
    const bad = Math.floor((n * 3) / 4);
    tamper(path, `UPDATE audit SET body = '{"i":-1}' WHERE seq IN (${bad}, ${n - 1})`);
    const run = await pocketcoder(["audit", "verify", "--db", path]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^audit chain BROKEN at seq ${bad} \\(content_hash_mismatch\\): seq ${bad}: content hash mismatch`));
    expect(run.stderr).toContain(`${bad - 1} entries before it verified`);
  });

  it("finds the database in POCKETCODER_DATA_DIR by default", async () => {
    const dir = tempDir();
    ledgerFile(join(dir, "pocketcoder.db"));
    expect(await pocketcoder(["audit", "verify"], { POCKETCODER_DATA_DIR: dir })).toMatchObject({ code: 0, stdout: expect.stringContaining("20 entries") });
  });
});

describe("pocketcoder audit export and tail", () => {
  it("exports the entries after --since as JSON lines anyone can re-hash", async () => {
    const path = ledgerFile();
    const run = await pocketcoder(["audit", "export", "--db", path, "--since", "15"]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.seq)).toEqual([16, 17, 18, 19, 20]);
    expect(lines.map((l) => l.event)).toEqual(["request.update", "exec.claim", "exec.start", "exec.result", "bot.stop"]);
    for (const l of lines) {
      const { hash, ...content } = l;
      expect(createHash("sha256").update(canonicalJson(content)).digest("hex")).toBe(hash);
    }
  });

  it("tails the last N entries, oldest first", async () => {
    const path = ledgerFile();
    const run = await pocketcoder(["audit", "tail", "-n", "3", "--db", path]);
    expect(run.stdout.trimEnd().split("\n").map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([18, 19, 20]);
  });
});

describe("misuse exits 2 with a message", () => {
  it.each([
    [["audit", "verify", "--db", "/nonexistent/pocketcoder.db"], "no ledger database at /nonexistent/pocketcoder.db"],
    [["audit", "verify", "--bogus"], "Unknown option '--bogus'"],
    [["audit", "export", "--since", "-3"], "--since"],
    [["audit", "tail", "-n", "0"], "-n must be a whole number ≥ 1"],
    [["audit", "frobnicate"], 'unknown subcommand "frobnicate"'],
    [["audit"], "missing subcommand"],
    [["audit", "verify", "--anchors", "/nonexistent/anchors.jsonl"], "cannot read anchors file /nonexistent/anchors.jsonl: ENOENT"],
  ])("%j", async (args, message) => {
    const run = await pocketcoder(args, { POCKETCODER_DATA_DIR: tempDir() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });

  it("a malformed anchors file", async () => {
    const anchors = join(tempDir(), "anchors.jsonl");
    writeFileSync(anchors, '{"seq":1,"hash":"nothex"}\n');
    const run = await pocketcoder(["audit", "verify", "--db", ledgerFile(), "--anchors", anchors]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${anchors}:1: hash: hash must be 64 lower-case hex digits`);
  });
});

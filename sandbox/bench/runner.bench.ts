// Benchmarks of the command path OpenCode uses: shim → runner → tmux pane → result.
// - per-command latency of `true` beside `bash -c true` spawned the same way, and the difference;
// - output throughput of `seq 1 5000000` through the shim beside the same output through a plain pipe,
//   and beside a bare pseudo-terminal (`script`), which bounded the old capture through the pane (the
//   output now goes to a file, and the pane gets a copy it may drop, see sandbox/README.md).
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { percentile, type Bench, type Metric } from "../../scripts/bench/metric.ts";
import { commandSha256, RunnerClient } from "../src/client.ts";
import { closeServer, createApi, listen } from "../src/http-server.ts";
import { silentLogger } from "../src/log.ts";
import { Runner } from "../src/runner.ts";

const shim = realpathSync(join(import.meta.dirname, "../bin/pocketcoder-shell"));
const token = "bench-token-0123456789abcdef";
const runs = 60;
const seqCommand = "seq 1 5000000";

/** Spawns a process, discards (but counts) its stdout, and resolves with wall time and bytes. */
function timed(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ ms: number; bytes: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(file, args, { ...opts, stdio: ["ignore", "pipe", "inherit"] });
    let bytes = 0;
    child.stdout.on("data", (b: Buffer) => (bytes += b.length));
    child.on("error", reject);
    child.on("close", (code) => resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, bytes, code }));
  });
}

function median(xs: number[]): number {
  return percentile(xs, 50);
}

async function run(): Promise<Metric[]> {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "pc-bench-")));
  const workspace = join(dir, "ws");
  mkdirSync(workspace);
  const socket = join(dir, "runner.sock");
  const runner = await Runner.start(
    {
      workspace,
      stateDir: join(dir, "state"),
      sandbox: "auto",
      path: "/usr/local/bin:/usr/bin:/bin",
      defaultTimeoutMs: 120_000,
      noOutputMs: 30_000,
      cancelStepMs: 3_000,
      replyMaxBytes: 65_536,
      queueMax: 50,
      historyLimit: 50_000,
      pollMs: 100,
      paneCheckMs: 1_000,
      readyTimeoutMs: 15_000,
      retentionMs: 3_600_000,
    },
    silentLogger,
  );
  const server = createApi(runner, token, silentLogger);
  await listen(server, { kind: "unix", path: socket, mode: 0o600 });
  const client = new RunnerClient(socket, token);
  const session = "ses_bench";
  let n = 0;
  const viaShim = async (command: string) => {
    const callId = `bench_${++n}`;
    await client.grant({ session, callId, sha256: commandSha256(command), cwd: workspace, expiresAt: new Date(Date.now() + 600_000).toISOString() });
    const r = await timed(shim, ["-c", command], {
      cwd: workspace,
      env: { PATH: process.env.PATH, POCKETCODER_RUNNER: socket, POCKETCODER_SESSION_ID: session, POCKETCODER_CALL_ID: callId },
    });
    if (r.code !== 0) throw new Error(`shim exited ${r.code} for ${command}`);
    return r;
  };

  try {
    for (let i = 0; i < 5; i++) {
      await viaShim("true");
      await timed("bash", ["-c", "true"]);
    }
    const shimMs: number[] = [];
    const bashMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      shimMs.push((await viaShim("true")).ms);
      bashMs.push((await timed("bash", ["-c", "true"], { cwd: workspace })).ms);
    }
    const shimP50 = median(shimMs);
    const bashP50 = median(bashMs);

    const mbps = (r: { ms: number; bytes: number }) => r.bytes / 1e6 / (r.ms / 1000);
    const shimRates: number[] = [];
    const pipeRates: number[] = [];
    const ptyRates: number[] = [];
    for (let i = 0; i < 3; i++) {
      shimRates.push(mbps(await viaShim(seqCommand)));
      pipeRates.push(mbps(await timed("bash", ["-c", seqCommand])));
      ptyRates.push(mbps(await timed("script", ["-qec", seqCommand, "/dev/null"])));
    }
    const shimRate = median(shimRates);
    return [
      { name: "sandbox.exec_true_p50", value: shimP50, unit: "ms", baseline: bashP50, target: { on: "value", op: "<=", limit: bashP50 + 25 } },
      { name: "sandbox.exec_true_overhead_p50", value: shimP50 - bashP50, unit: "ms", baseline: null, target: { on: "value", op: "<=", limit: 25 } },
      { name: "sandbox.exec_seq_throughput", value: shimRate, unit: "MB/s", baseline: median(pipeRates), target: { on: "value", op: ">=", limit: 50 } },
      { name: "sandbox.exec_seq_vs_bare_pty", value: shimRate, unit: "MB/s", baseline: median(ptyRates), target: { on: "ratio", op: ">=", limit: 0.5 } },
    ];
  } finally {
    runner.close();
    await closeServer(server);
    await new Promise<void>((resolve) => execFile("tmux", ["-S", runner.tmux.socket, "kill-server"], () => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
}

export default { name: "sandbox", run } satisfies Bench;

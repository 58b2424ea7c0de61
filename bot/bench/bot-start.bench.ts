// Bot start-up and idle memory, on its own throwaway Synapse:
// - start → first live sync with an existing store (process spawn to the `ready` line, which is
//   logged after the first non-cached sync and the crypto checks), p50 of several runs, minus the
//   homeserver's own /versions latency measured in the same run (target: ≤ 3000 ms beyond it);
// - RSS of the bot process after one minute idle in three encrypted rooms (target: ≤ 150 MB),
//   beside the RSS of a bare idle Node process as the baseline.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { botEnv, startBotProcess } from "@pocketcoder/testkit/bot-process";
import { freePort, logout, registerUser, startHomeserver } from "../../scripts/lib/homeserver.ts";
import { type Bench, type Metric, percentile } from "../../scripts/bench/metric.ts";

const runs = 5;
const idleMs = 60_000;

async function versionsLatencyMs(baseUrl: string): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const res = await fetch(`${baseUrl}/_matrix/client/versions`);
    await res.arrayBuffer();
    samples.push(performance.now() - t);
  }
  return percentile(samples, 50);
}

async function api(baseUrl: string, token: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${baseUrl}/_matrix/client/v3${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

async function waitForJoin(baseUrl: string, token: string, roomId: string, userId: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const member = await api(baseUrl, token, "GET", `/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(userId)}`);
    if (member.membership === "join") return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the bot did not join ${roomId}`);
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
  if (!Number.isFinite(kb)) throw new Error(`no VmRSS for pid ${pid}`);
  return kb / 1024;
}

/** RSS of a bare Node process idling for a second: what any Node program costs. */
async function bareNodeRssMb(): Promise<number> {
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 10000)"], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 1000));
  const mb = await rssMb(child.pid!);
  child.kill("SIGKILL");
  await once(child, "exit");
  return mb;
}

const bench: Bench = {
  name: "bot-start",
  async run(): Promise<Metric[]> {
    const root = await mkdtemp(join(tmpdir(), "pocketcoder-bench-"));
    const hs = await startHomeserver({ dir: join(root, "homeserver"), port: await freePort(), testMode: true });
    try {
      const suffix = randomBytes(3).toString("hex");
      const password = randomBytes(12).toString("hex");
      const botReg = await registerUser(hs.baseUrl, hs.sharedSecret, { localpart: `bot-${suffix}`, password });
      await logout(hs.baseUrl, botReg.accessToken);
      const alice = await registerUser(hs.baseUrl, hs.sharedSecret, { localpart: `alice-${suffix}`, password: "x".repeat(16) });
      const env = botEnv({
        homeserverUrl: hs.baseUrl,
        userId: botReg.userId,
        password,
        dataDir: join(root, "data"),
        allowedUsers: [alice.userId],
      });

      // First start creates the identity and the stores; the bot joins three encrypted rooms.
      const first = await startBotProcess(env);
      for (let i = 0; i < 3; i++) {
        const { room_id } = await api(hs.baseUrl, alice.accessToken, "POST", "/createRoom", {
          preset: "private_chat",
          invite: [botReg.userId],
          initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
        });
        await waitForJoin(hs.baseUrl, alice.accessToken, room_id as string, botReg.userId);
      }
      await first.stop();

      const starts: number[] = [];
      const versions: number[] = [];
      for (let i = 0; i < runs; i++) {
        versions.push(await versionsLatencyMs(hs.baseUrl));
        const t = performance.now();
        const bot = await startBotProcess(env);
        starts.push(performance.now() - t);
        await bot.stop();
      }
      const startP50 = percentile(starts, 50);
      const versionsP50 = percentile(versions, 50);

      const idle = await startBotProcess(env);
      await new Promise((r) => setTimeout(r, idleMs));
      const idleRss = await rssMb(idle.pid);
      await idle.stop();
      const bareRss = await bareNodeRssMb();

      return [
        {
          name: "bot-start.start-to-live-sync-p50-minus-versions-latency",
          value: startP50 - versionsP50,
          unit: "ms",
          baseline: versionsP50,
          target: { on: "value", op: "<=", limit: 3000 },
        },
        {
          name: "bot-start.idle-rss-after-1min-in-3-rooms",
          value: idleRss,
          unit: "MB",
          baseline: bareRss,
          target: { on: "value", op: "<=", limit: 150 },
        },
      ];
    } finally {
      await hs.stop();
      await rm(root, { recursive: true, force: true });
    }
  },
};

export default bench;

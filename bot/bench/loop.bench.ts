// The loop's two latencies (issue 5), on a throwaway Synapse with the whole stack (bot process, real
// opencode with a scripted model, runner and tmux), each beside the floor measured in the same run:
// a plain encrypted message from one test user to another (send → received and decrypted).
// - vote → run: a test user taps ✅ on an approval prompt (once the reactions the bot pre-added are
//   on their screen, as they are for a one-tap vote) → the runner reports the command started in tmux
//   (its exec.started event reaching this process). Target p50 ratio ≤ 1.5.
// - ask → prompt: opencode emits permission.asked (its event stream reaching this process) → the
//   prompt arrives, decrypted, at the approver's client. Target p50 ratio ≤ 1.5.
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createOpencodeClient } from "@opencode-ai/sdk/v2";
import { createTestUser } from "@pocketcoder/testkit/matrix-user";
import { match, plan } from "@pocketcoder/testkit/scripted-llm";
import { startStack } from "@pocketcoder/testkit/stack";
import { freePort, startHomeserver } from "../../scripts/lib/homeserver.ts";
import { type Bench, type Metric, percentile } from "../../scripts/bench/metric.ts";

const rounds = 8;
const warmup = 1;

const policy = `
version: 1
defaults:
  decision: ask
  quorum: 1
  approvers: { minPowerLevel: 50 }
  selfApproval: true
  expires: 15m
  risk: medium
rules:
  - id: bench-files
    decision: ask
    command: ["touch bench-*"]
`;

/** Arrival times (performance.now) of events keyed by a call id, with waiters. */
class Arrivals {
  private readonly seen = new Map<string, number>();
  private readonly waiting = new Map<string, (t: number) => void>();
  note(key: string): void {
    const t = performance.now();
    if (this.seen.has(key)) return;
    this.seen.set(key, t);
    this.waiting.get(key)?.(t);
  }
  at(key: string, timeoutMs = 120_000): Promise<number> {
    const t = this.seen.get(key);
    if (t !== undefined) return Promise.resolve(t);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no event for ${key} within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.set(key, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }
}

const bench: Bench = {
  name: "loop",
  async run(): Promise<Metric[]> {
    const root = await mkdtemp(join(tmpdir(), "pocketcoder-bench-loop-"));
    const hs = await startHomeserver({ dir: join(root, "homeserver"), port: await freePort(), testMode: true });
    const stop = new AbortController();
    try {
      const [alice, bob] = await Promise.all([createTestUser(hs, "alice"), createTestUser(hs, "bob")]);
      const stack = await startStack(hs, { policy });
      try {
        stack.llm.on(match.afterToolResult(), plan.text("Done."));
        const room = await stack.roomWithBot(alice, { name: "Bench" });
        const floorRoom = await alice.createRoom({ invite: [bob.userId] });
        await bob.waitForInvite(floorRoom);
        await bob.join(floorRoom);
        await alice.waitForMembership(floorRoom, bob.userId, "join");

        // permission.asked as opencode emits it, and exec.started as the runner reports it, by call id.
        const asked = new Arrivals();
        const started = new Arrivals();
        const server = JSON.parse(readFileSync(join(stack.account.dataDir, "opencode", "server.json"), "utf8")) as { url: string; authorization: string };
        const opencode = createOpencodeClient({ baseUrl: server.url, headers: { Authorization: server.authorization } });
        const { stream } = await opencode.global.event({ signal: stop.signal });
        void (async () => {
          for await (const frame of stream as AsyncIterable<{ payload?: { type?: string; properties?: { tool?: { callID?: string } } } }>) {
            const callID = frame.payload?.type === "permission.asked" ? frame.payload.properties?.tool?.callID : undefined;
            if (callID) asked.note(callID);
          }
        })().catch(() => undefined);
        void (async () => {
          for await (const ev of stack.runner.client.events({ signal: stop.signal })) if (ev.type === "exec.started") started.note(ev.callId);
        })().catch(() => undefined);

        const watch = stack.watch(alice, room);
        const floor: number[] = [];
        const askToPrompt: number[] = [];
        const voteToRun: number[] = [];
        for (let i = 0; i < warmup + rounds; i++) {
          const t0 = performance.now();
          await alice.sendText(floorRoom, `floor ${i}`);
          await bob.waitForMessage(floorRoom, `floor ${i}`);
          const floorMs = performance.now() - t0;

          const callId = `call_bench_${i}`;
          const command = `touch bench-${i}`;
          stack.llm.on(match.lastUserIncludes(`BENCH-${i}:`), plan.toolCall("bash", { command, description: `bench ${i}` }, { id: callId }), { once: true });
          await alice.sendText(room, `BENCH-${i}: make a file`);
          const prompt = await watch.waitFor((body, e) => body.includes("Approval needed") && body.includes(command) && e.getContent()["m.relates_to"]?.rel_type !== "m.replace", 120_000);
          const promptAt = performance.now();
          const askedAt = await asked.at(callId);
          // A person taps the ✅ the bot pre-added, so the bot's reactions (🔁 too, when the prompt offers
          // it) are on their screen first.
          const offered = ["✅", "❌", ...(prompt.getContent().body?.includes("🔁") ? ["🔁"] : [])];
          for (const key of offered) {
            await alice.waitForEvent(room, (e) => e.getType() === "m.reaction" && e.getSender() === stack.botUserId && e.getRelation()?.event_id === prompt.getId() && e.getRelation()?.key === key);
          }

          const voteAt = performance.now();
          await alice.react(room, prompt.getId()!, "✅");
          const startedAt = await started.at(callId);
          // The turn ends (the model was told the result) before the next round starts.
          await watch.waitFor((body) => body.includes(`bench ${i} — done`) && body.includes("Done."), 120_000);

          if (i < warmup) continue;
          floor.push(floorMs);
          askToPrompt.push(promptAt - askedAt);
          voteToRun.push(startedAt - voteAt);
        }
        const floorP50 = percentile(floor, 50);
        return [
          {
            name: "loop.vote-to-command-start-p50",
            value: percentile(voteToRun, 50),
            unit: "ms",
            baseline: floorP50,
            target: { on: "ratio", op: "<=", limit: 1.5 },
          },
          {
            name: "loop.permission-asked-to-prompt-p50",
            value: percentile(askToPrompt, 50),
            unit: "ms",
            baseline: floorP50,
            target: { on: "ratio", op: "<=", limit: 1.5 },
          },
        ];
      } finally {
        stop.abort();
        alice.stop();
        bob.stop();
        await stack.stop();
      }
    } finally {
      await hs.stop();
      await rm(root, { recursive: true, force: true });
    }
  },
};

export default bench;

// Puts the loop together when an agent is configured: the ledger, the policy, the runner client, the
// agent server (started or adopted) and its event stream before Matrix starts (so a bad policy or a
// dead runner fails the start); then, once the Matrix client exists, the approval engine and the
// conversations, with the commands, chat, reactions and redactions the bot's handler routes here.
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import type { MatrixClient, MatrixEvent, Room } from "matrix-js-sdk";
import { RunnerClient } from "@pocketcoder/sandbox/client";
import { AgentEvents } from "../agent/events.ts";
import { buildOpencodeConfig, resolveApiKey } from "../agent/opencode-config.ts";
import { replyPermission } from "../agent/sessions.ts";
import { createApprovalEngine } from "../approvals/engine.ts";
import { reactionInput, redactionInput, roomStateOf, voteAuthOf } from "../approvals/matrix-ports.ts";
import type { ApprovalEngine } from "../approvals/ports.ts";
import type { Command } from "../chat/command.ts";
import type { IncomingMessage } from "../chat/router.ts";
import { Ledger } from "../ledger/ledger.ts";
import type { LoopConfig } from "../loop-config.ts";
import type { Logger } from "../log.ts";
import type { Messenger } from "../matrix/messenger.ts";
import { loadPolicy } from "../policy/load.ts";
import { AgentHost } from "./agent-host.ts";
import { RoomBindings } from "./bindings.ts";
import { conversationCommands } from "./commands.ts";
import { Conversations } from "./conversations.ts";

const shimPath = fileURLToPath(new URL("../../../sandbox/bin/pocketcoder-shell", import.meta.url));
const pluginPath = fileURLToPath(new URL("../../../sandbox/plugin/pocketcoder-shell-env.js", import.meta.url));

/** The bot's ledger file: where `pocketcoder audit` looks by default. */
export const ledgerPath = (dataDir: string) => join(dataDir, "pocketcoder.db");

export interface Loop {
  commands: readonly Command[];
  chat(message: IncomingMessage): Promise<void>;
  /** Reactions and redactions (votes); true when the event was one. */
  onEvent(event: MatrixEvent, room: Room): Promise<boolean>;
  /** Once Matrix is live: crash recovery, expiry, runner events, the agent's event stream. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface PreparedLoop {
  attach(matrix: { client: MatrixClient; messenger: Messenger; userId: string }): Loop;
  /** Undoes the preparation when the bot fails to start. */
  abandon(): Promise<void>;
}

export async function prepareLoop(config: LoopConfig, dataDir: string, log: Logger): Promise<PreparedLoop> {
  const policy = await loadPolicy(config.policy);
  const runner = new RunnerClient(config.runner.endpoint, config.runner.token);
  const health = await runner.health().catch((e: Error) => {
    throw new Error(`the runner at ${config.runner.endpoint} does not answer (${e.message}); is it running?`);
  });
  const ledger = Ledger.open(ledgerPath(dataDir));
  ledger.append("policy.load", "bot", { hash: policy.hash, files: policy.files });
  log.info("loop prepared", { policyHash: policy.hash, runnerSandbox: health.sandbox, workspace: config.workspace });

  let host: AgentHost;
  try {
    const launch = buildOpencodeConfig({ agent: config.agent, apiKey: resolveApiKey(config.agent, process.env), shellPath: shimPath, pluginPaths: [pluginPath] });
    host = await AgentHost.start({
      dataDir: join(dataDir, "opencode"),
      directory: config.workspace,
      launch,
      env: { POCKETCODER_RUNNER: config.runner.endpoint },
      log: log.child("agent"),
    });
  } catch (e) {
    ledger.close();
    throw e;
  }
  const events = new AgentEvents({ client: () => host.client(), logger: log.child("agent.events") });
  const bindings = new RoomBindings(ledger);

  return {
    abandon: async () => {
      await host.stop();
      ledger.close();
    },
    attach({ client, messenger, userId }) {
      const engine: ApprovalEngine = createApprovalEngine({
        ledger,
        policy: { current: () => policy },
        messenger,
        roomState: (roomId) => roomStateOf(client, roomId),
        voteAuth: (roomId, eventId) => voteAuthOf(client, roomId, eventId),
        agent: {
          reply: async ({ sessionId, permissionId }, reply) => {
            const directory = bindings.bySession(sessionId)?.directory ?? config.workspace;
            return replyPermission(host.client(), { directory, requestID: permissionId, ...reply }).catch((error: unknown) => {
              log.warn("could not answer a permission request", { sessionId, permissionId, error });
              return false;
            });
          },
        },
        runner,
        botUserId: userId,
        log: log.child("approvals"),
      });
      const conversations = new Conversations({
        client: () => host.client(),
        events,
        bindings,
        workspace: config.workspace,
        messenger,
        roomName: (roomId) => {
          const name: unknown = client.getRoom(roomId)?.currentState.getStateEvents("m.room.name", "")?.getContent().name;
          return typeof name === "string" ? name : undefined;
        },
        engine,
        runner,
        pendingSessions: () => ledger.listPending().map((r) => ({ roomId: r.room, sessionId: r.sessionId })),
        log: log.child("conversation"),
      });
      host.on("exit", () => void conversations.agentDied());
      // "Back" only once the event stream is connected again: a message sent earlier would lose its reply.
      events.onConnected(() => void conversations.agentBack());

      return {
        commands: [...conversationCommands(conversations), ...engine.commands],
        chat: (message) => conversations.chat(message),
        async onEvent(event, room) {
          const reaction = reactionInput(event, room);
          if (reaction) return engine.onReaction(reaction).then(() => true);
          const redaction = redactionInput(event, room);
          if (redaction) return engine.onRedaction(redaction).then(() => true);
          return false;
        },
        async start() {
          await engine.start();
          // A fresh agent server knows nothing of what the previous one asked; an adopted one does.
          if (!host.wasAdopted) await conversations.cancelStale();
          conversations.start();
          events.start();
        },
        async stop() {
          await conversations.stop();
          await events.stop();
          await engine.stop();
          await host.stop();
          ledger.append("bot.stop", "bot", {});
          ledger.close();
        },
      };
    },
  };
}

// The approval engine: from opencode's `permission.asked` to a decision, a grant, the agent's
// answer, the run and its report (notes R1–R22). All state lives in the ledger and moves only by
// compare-and-swap, so a restart loses nothing and no two paths can both dispatch a request.
//
// Interface (types in ports.ts):
//   const engine = createApprovalEngine({ ledger, policy: { current }, messenger, roomState, voteAuth,
//                                         agent: { reply }, runner, botUserId, clock?, log? });
//   await engine.start();                         // crash recovery, expiry sweep + timers, runner events
//   engine.onPermissionAsked(permission, { roomId, project, directory, requester, requesterDevice?, toolPart? });
//   engine.onReaction(reactionInput(event, room)); engine.onRedaction(redactionInput(event, room));
//   engine.onToolPart(part);                      // message.part.updated tool parts (completes edits)
//   commands: engine.commands                     // add to the chat command table (votes need ctx.eventId)
//   await engine.rejectPendingForSession(sessionId, reason, actor);  // !stop, agent death
//   await engine.stop();
// matrix-ports.ts builds roomState, voteAuth, reactionInput and redactionInput from a MatrixClient.
import { createHash } from "node:crypto";
import type { ExecResult, RunnerEvent } from "@pocketcoder/sandbox/protocol";
import type { PermissionRequest, ToolPart } from "../agent/events.ts";
import type { PermissionReply } from "../agent/sessions.ts";
import { type ApprovalRequest, type ApprovalSpec, type ExecutionResult, isTerminal } from "../ledger/ledger.ts";
import { createLogger } from "../log.ts";
import { evaluate, type PolicyRequest } from "../policy/evaluate.ts";
import { type StandingProposal, standingRuleFor } from "../policy/standing.ts";
import * as toAgent from "./agent-messages.ts";
import { approvalCommands, type CastVote, type VoteResult } from "./commands.ts";
import type { ApprovalEngine, ApprovalEngineDeps, PermissionContext, ReactionInput, RedactionInput } from "./ports.ts";
import { type Decision, renderPromptState } from "./prompt-state.ts";
import { ALWAYS, APPROVE, DENY, diffFileName, diffPreview } from "./prompt.ts";
import { requestInput } from "./request-input.ts";
import { ledgerResult, renderRefusal, renderResult } from "./result-report.ts";
import { eligibility, type Tally, tally } from "./tally.ts";
import { voteKey } from "./vote-keys.ts";

/** How long a grant stays usable after the decision: the runner may queue the command briefly. */
const grantLifetimeMs = 3_600_000;
/** Requests the policy decides at once still carry an expiry (the ledger wants one). */
const autoDecisionWindowMs = 15 * 60_000;
/** The ledger stores at most this much input; anything bigger cannot be reviewed in chat either. */
const maxInputChars = 1_000_000;
/** Commands and tool arguments are shown whole in a prompt, which must fit in one Matrix event
 * (65,536 bytes, holding the text twice: plain and as HTML); diffs are shown in part. Longer ones
 * are refused when they need a prompt, rather than wait unseen until they expire. */
const maxShownInputChars = 24_000;
/** After a bash tool call ends, how long to wait for the runner's own report before concluding it never ran. */
const runnerReportGraceMs = 5_000;
const maxMentions = 20;
/** Room admins by Matrix convention; one asking for a standing rule suffices (notes R16). */
const adminPowerLevel = 100;
/** Project folders remembered for standing-rule proposals; the oldest are forgotten beyond this. */
const maxRememberedWorkspaces = 1_000;
const emptySha256 = createHash("sha256").update("").digest("hex");

export type { ApprovalEngine, ApprovalEngineDeps } from "./ports.ts";

const callKey = (session: string, callId: string) => `${session}\n${callId}`;

export function createApprovalEngine(deps: ApprovalEngineDeps): ApprovalEngine {
  const { ledger, messenger } = deps;
  const now = deps.clock ?? Date.now;
  const log = deps.log ?? createLogger("approvals");
  /** Dispatched bash requests by (session, call), until the runner reports the end. */
  const runnerCalls = new Map<string, string>();
  /** Dispatched requests of other tools by (session, call), until opencode reports the tool's end. */
  const agentCalls = new Map<string, string[]>();
  /** Prompt edits run one at a time per request, each rendering the ledger as it is then. */
  const edits = new Map<string, Promise<void>>();
  const shown = new Map<string, string>();
  /** Dispatches under way, so a run's report waits until the prompt shows the approval. */
  const dispatches = new Map<string, Promise<void>>();
  /** Who decided, kept from the transition for rendering; after a restart read back from the ledger. */
  const decisions = new Map<string, Decision>();
  /** The project folder each request was asked in (request id → folder), for `standingProposal`. */
  const workspaces = new Map<string, string>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let runnerAbort: AbortController | undefined;
  let runnerLoop: Promise<void> | undefined;
  let recovery: Promise<void> | undefined;

  // ── reading ────────────────────────────────────────────────────────────────────────────────

  function mentionsFor(req: ApprovalRequest): string[] {
    const spec = req.approval;
    const room = deps.roomState(req.room);
    const who = { requester: req.requester, botUserId: deps.botUserId, room };
    // Those whose approval would count, by the tally's own rule.
    const eligible = (u: string) => eligibility(spec, who, { voter: u, decision: "approve" }) === null;
    return [...new Set([...(spec.users ?? []), ...room.members()])].filter(eligible).slice(0, maxMentions);
  }

  function currentTally(req: ApprovalRequest): Tally {
    const votes = ledger.tally(req.id).map((v) => ({ eventId: v.eventId, voter: v.voter, decision: v.decision, via: v.via, verifiedDevice: v.verifiedDevice }));
    return tally({ spec: req.approval, requester: req.requester, botUserId: deps.botUserId, votes, room: deps.roomState(req.room) });
  }

  /** Moves a pending request along a decision edge, remembering who decided for the prompt. */
  function decide(id: string, to: "approved" | "denied" | "cancelled", actor: string, by: string[], reason: string | null, extra: Record<string, unknown> = {}): boolean {
    if (!ledger.transition(id, "pending", to, actor, { by, reason, ...extra })) return false;
    decisions.set(id, { by, at: now(), reason });
    return true;
  }

  /** Who moved the request out of pending: remembered, or else from the ledger's transition record. */
  function decisionOf(req: ApprovalRequest): Decision | null {
    const known = decisions.get(req.id);
    if (known) return known;
    for (const e of ledger.history(req.id).reverse()) {
      if (e.event !== "request.update") continue;
      const body = JSON.parse(e.body) as { from?: string; detail?: { by?: unknown; reason?: unknown } };
      if (body.from !== "pending") continue;
      const by = Array.isArray(body.detail?.by) ? body.detail.by.filter((x): x is string => typeof x === "string") : [e.actor];
      return { by, at: e.ts, reason: typeof body.detail?.reason === "string" ? body.detail.reason : null };
    }
    return null;
  }

  /** The standing rule 🔁 would make of this request, or why there is none: the policy decides
   * (notes R16), and strict rules need an approval for every run. */
  function standingProposal(req: ApprovalRequest): StandingProposal {
    if (req.approval.strict) return { ok: false, reason: "No standing rule: this rule is strict, so each run needs its own approval." };
    const policy = deps.policy.current();
    // The project folder is not part of the stored request; without it (after a restart) every
    // path counts as outside the project, which can refuse a rule but never widen one.
    const workspace = workspaces.get(req.id);
    const request: PolicyRequest = { tool: req.tool, command: req.input, cwd: req.cwd, room: req.room, project: req.project, requester: req.requester, ...(workspace ? { workspace } : {}) };
    return standingRuleFor(request, evaluate(request, { policy }), { policy, now: now(), room: req.room, project: req.project });
  }

  function alwaysPossible(req: ApprovalRequest): boolean {
    return standingProposal(req).ok;
  }

  function render(req: ApprovalRequest): string {
    const extras = { mentions: req.state === "pending" ? mentionsFor(req) : [], alwaysPossible: req.state === "pending" && alwaysPossible(req) };
    const state =
      req.state === "pending"
        ? { kind: "pending" as const, tally: currentTally(req) }
        : { kind: "decided" as const, decision: decisionOf(req), execution: ledger.getExecution(req.id) };
    return renderPromptState(req, extras, state, now());
  }

  // ── writing to Matrix ──────────────────────────────────────────────────────────────────────

  /** Edits the prompt to show the request as the ledger has it now (queued per request). */
  function refresh(requestId: string): Promise<void> {
    const run = async () => {
      const req = ledger.getRequest(requestId);
      if (!req) return;
      if (req.promptEventId) {
        const text = render(req);
        if (shown.get(requestId) === text) return;
        await messenger.edit(req.room, req.promptEventId, text, req.state === "pending" ? { mentions: mentionsFor(req) } : {});
        shown.set(requestId, text);
      }
      if (isTerminal(req.state)) {
        shown.delete(requestId);
        decisions.delete(requestId);
      }
    };
    const next = (edits.get(requestId) ?? Promise.resolve()).then(run).catch((error: unknown) => log.warn("prompt edit failed", { requestId, error }));
    edits.set(requestId, next);
    void next.then(() => {
      if (edits.get(requestId) === next) edits.delete(requestId);
    });
    return next;
  }

  /** A note in the prompt's thread (or the room, for requests without a prompt). */
  async function note(req: ApprovalRequest, markdown: string, mentions: string[] = []): Promise<void> {
    try {
      if (req.promptEventId) await messenger.replyInThread(req.room, req.promptEventId, markdown, { mentions });
      else await messenger.sendMarkdown(req.room, markdown, { mentions });
    } catch (error) {
      log.warn("note failed", { requestId: req.id, error });
    }
  }

  async function postPrompt(req: ApprovalRequest): Promise<void> {
    const mentions = mentionsFor(req);
    const text = render(req);
    const eventId = await messenger.sendMarkdown(req.room, text, { mentions });
    if (!ledger.setPromptEvent(req.id, eventId, deps.botUserId)) return;
    shown.set(req.id, text);
    if (req.inputKind === "diff" && !diffPreview(req.input).whole) {
      // The prompt shows part of the diff (R2: people see what they approve), so the whole goes beside it.
      await messenger
        .uploadFile(req.room, diffFileName(req.code), new TextEncoder().encode(req.input), "text/x-diff", { threadRoot: eventId })
        .catch((error: unknown) => log.warn("attaching the whole diff failed", { requestId: req.id, error }));
    }
    const keys = req.approval.strict ? [DENY] : [APPROVE, DENY, ...(alwaysPossible(req) ? [ALWAYS] : [])];
    for (const key of keys) await messenger.react(req.room, eventId, key).catch((error: unknown) => log.warn("pre-adding a reaction failed", { key, error }));
  }

  // ── answering the agent ────────────────────────────────────────────────────────────────────

  async function answer(req: ApprovalRequest, reply: PermissionReply): Promise<boolean> {
    try {
      return await deps.agent.reply({ sessionId: req.sessionId, permissionId: req.permissionId }, reply);
    } catch (error) {
      log.warn("answering the agent failed", { requestId: req.id, reply: reply.reply, error });
      return false;
    }
  }

  /** Closes a dispatched request that did not run, with the reason in its thread. */
  async function endWithoutRun(req: ApprovalRequest, why: string): Promise<void> {
    const empty: ExecutionResult = { exitCode: null, durationMs: 0, timedOut: false, outputSha256: emptySha256, outputBytes: 0, truncated: false };
    if (req.callId) {
      runnerCalls.delete(callKey(req.sessionId, req.callId));
      agentCalls.delete(callKey(req.sessionId, req.callId));
    }
    if (ledger.recordResult(req.id, "bot", empty) === null) return;
    await note(req, `Nothing ran for \`${req.code}\`: ${why}`);
    await refresh(req.id);
  }

  /**
   * After a successful claim: grant (bash), answer `once`, and watch for the end. A bash grant also
   * starts the command in the runner at once, and the shim's exec, when opencode gets to it, joins
   * the running command: opencode's round trip is not between the approval and the run.
   */
  async function dispatch(req: ApprovalRequest): Promise<void> {
    const key = req.callId ? callKey(req.sessionId, req.callId) : null;
    if (req.tool === "bash") {
      if (!key || !req.callId) return endWithoutRun(req, "opencode gave no call id, so no grant can name it");
      try {
        await deps.runner.grant({
          session: req.sessionId,
          callId: req.callId,
          sha256: createHash("sha256").update(req.input, "utf8").digest("hex"),
          cwd: req.cwd,
          expiresAt: new Date(now() + grantLifetimeMs).toISOString(),
          start: { command: req.input },
        });
      } catch (error) {
        log.error("grant failed", { requestId: req.id, error });
        await answer(req, { reply: "reject", message: "The sandbox could not accept the approval, so the command did not run. Tell the user the sandbox is unavailable." });
        return endWithoutRun(req, `the sandbox did not accept the grant (${error instanceof Error ? error.message : String(error)})`);
      }
      runnerCalls.set(key, req.id);
      log.debug("granted", { requestId: req.id });
    } else if (key) agentCalls.set(key, [...(agentCalls.get(key) ?? []), req.id]);
    if (!(await answer(req, { reply: "once" }))) {
      const gone = "opencode no longer waits for this call (the turn was stopped or the agent restarted)";
      if (req.tool !== "bash" || !req.callId) return endWithoutRun(req, gone);
      // the command already started; its result still arrives from the runner and is posted
      await deps.runner.cancel({ session: req.sessionId, callId: req.callId }).catch((error: unknown) => log.warn("cancel failed", { requestId: req.id, error }));
      await note(req, `⏹️ \`${req.code}\` was stopped: ${gone}.`);
      return;
    }
    log.debug("answered once", { requestId: req.id });
    if (req.tool !== "bash") {
      ledger.markRunning(req.id, "agent");
      if (!key) ledger.recordResult(req.id, "agent", { exitCode: 0, durationMs: 0, timedOut: false, outputSha256: emptySha256, outputBytes: 0, truncated: false });
    }
    await refresh(req.id);
  }

  async function track(requestId: string, dispatched: Promise<void>): Promise<void> {
    dispatches.set(requestId, dispatched);
    try {
      await dispatched;
    } finally {
      dispatches.delete(requestId);
    }
  }

  // ── deciding ───────────────────────────────────────────────────────────────────────────────

  type Settled = { outcome: "approved"; request: ApprovalRequest; tally: Tally } | { outcome: "denied" | "pending"; tally: Tally };

  /** Inside a ledger transaction: tally now and take the edge the tally calls for. */
  function settle(req: ApprovalRequest, actor: string): Settled {
    const t = currentTally(req);
    if (t.outcome === "approved") {
      if (!decide(req.id, "approved", actor, t.approvers, null, { always: t.alwaysBy })) return { outcome: "pending", tally: t };
      const claim = ledger.claimExecution(req.id, deps.botUserId);
      // Approval and claim commit together or not at all (R15).
      if (!claim.ok) throw new Error(`claim failed right after approval: ${claim.reason}`);
      return { outcome: "approved", request: claim.request, tally: t };
    }
    if (t.outcome === "denied") {
      const reasons = ledger
        .tally(req.id)
        .filter((v) => v.decision === "deny" && v.reason && t.deniers.includes(v.voter))
        .map((v) => v.reason!);
      const reason = reasons.length ? reasons.join("; ") : null;
      if (!decide(req.id, "denied", actor, t.deniers, reason)) return { outcome: "pending", tally: t };
    }
    return { outcome: t.outcome, tally: t };
  }

  async function afterSettled(req: ApprovalRequest, s: Settled): Promise<void> {
    if (s.outcome === "approved") {
      // Dispatch first: the prompt's edit (at the end of dispatch) is not on the way to the sandbox.
      await track(req.id, dispatch(s.request));
      if (s.tally.alwaysBy.length) await makeStandingRule(s.request, s.tally.alwaysBy);
    } else if (s.outcome === "denied") {
      const denied = ledger.getRequest(req.id)!;
      await answer(denied, { reply: "reject", message: toAgent.deniedByPeople(denied, s.tally.deniers, decisionOf(denied)?.reason ?? null) });
      await refresh(req.id);
    } else await refresh(req.id);
    schedule();
  }

  /** A standing rule needs as many approvers asking for it as the request needed approvals, or a
   * room admin (power level 100) among them (notes R16). */
  async function makeStandingRule(req: ApprovalRequest, alwaysBy: string[]): Promise<void> {
    const proposal = standingProposal(req);
    if (!proposal.ok) return note(req, `🔁 ${proposal.reason} This run was approved once.`);
    const room = deps.roomState(req.room);
    const admin = alwaysBy.find((u) => room.powerLevel(u) >= adminPowerLevel);
    if (!admin && alwaysBy.length < req.approval.quorum) {
      const asked = `${alwaysBy.length} of the ${req.approval.quorum} approvers`;
      return note(req, `🔁 No standing rule: ${asked} asked for one; it takes all ${req.approval.quorum}, or a room admin. This run was approved once.`);
    }
    const by = admin ?? alwaysBy.join(", ");
    const { argvPrefix, expiresAt } = proposal.rule;
    const rule = ledger.createStandingRule({ tool: req.tool, argvPrefix, room: req.room, project: req.project, createdBy: admin ?? alwaysBy[0]!, sourceRequest: req.id, expiresAt });
    await note(req, `🔁 From now on \`${argvPrefix.join(" ")}\` runs without asking in this room for 24 h (rule \`${rule.id.slice(0, 8)}\`, set by ${by}; \`!revoke ${rule.id.slice(0, 8)}\` ends it).`);
  }

  async function castVote(req: ApprovalRequest, vote: CastVote): Promise<VoteResult> {
    const result = ledger.atomically((): { r: VoteResult; s?: Settled } => {
      const recorded = ledger.recordVote({
        requestId: req.id,
        eventId: vote.eventId,
        room: vote.roomId,
        voter: vote.voter,
        device: vote.device,
        via: vote.via,
        encrypted: vote.encrypted,
        verifiedDevice: vote.verifiedDevice,
        decision: vote.decision,
        reason: vote.reason,
        originTs: vote.originTs,
      });
      if (!recorded.counted) return { r: { kind: "refused", reason: recorded.reason, state: recorded.state } };
      const s = settle(req, vote.voter);
      const ignored = s.tally.ignored.find((i) => i.eventId === vote.eventId);
      if (ignored) return { r: { kind: "ignored", why: ignored.why }, s };
      return { r: { kind: "counted", outcome: s.outcome, approvals: s.tally.approvers.length, quorum: req.approval.quorum }, s };
    });
    if (result.s) await afterSettled(req, result.s);
    return result.r;
  }

  // ── the permission request ─────────────────────────────────────────────────────────────────

  async function onPermissionAsked(permission: PermissionRequest, ctx: PermissionContext): Promise<void> {
    void recoverOnce();
    if (ledger.byPermission(permission.sessionID, permission.id)) return;
    const input = requestInput(permission, ctx.directory, ctx.toolPart);
    const reject = (message: string) => deps.agent.reply({ sessionId: permission.sessionID, permissionId: permission.id }, { reply: "reject", message }).catch(() => false);
    const tooLong = async () => {
      log.warn("permission too large to review", { sessionId: permission.sessionID, permissionId: permission.id, chars: input.input.length });
      await reject(toAgent.unreviewable(`the ${input.tool} call is ${input.input.length} characters long, too long to review in chat`));
    };
    if (input.input.length > maxInputChars) return tooLong();
    const policy = deps.policy.current();
    const t = now();
    const standing = ledger.listStandingRules({ at: t, room: ctx.roomId, project: ctx.project });
    const decision = evaluate(
      {
        tool: input.tool,
        ...(input.command !== undefined ? { command: input.command } : {}),
        ...(input.paths ? { paths: input.paths } : {}),
        room: ctx.roomId,
        requester: ctx.requester,
        project: ctx.project,
        cwd: input.cwd,
        workspace: ctx.directory,
      },
      { policy, standing, now: t },
    );
    if (decision.decision === "ask" && input.inputKind !== "diff" && input.input.length > maxShownInputChars) return tooLong();
    const a = decision.approval;
    const coRequesters = [...new Set(ctx.coRequesters ?? [])].filter((u) => u !== ctx.requester);
    const spec: ApprovalSpec = a
      ? {
          quorum: a.quorum,
          selfApproval: a.selfApproval,
          strict: a.strict,
          ...(a.minPowerLevel !== undefined ? { minPowerLevel: a.minPowerLevel } : {}),
          ...(a.users ? { users: a.users } : {}),
          ...(coRequesters.length > 0 ? { coRequesters } : {}),
        }
      : { quorum: 1, selfApproval: true, strict: false };
    let req: ApprovalRequest;
    try {
      req = ledger.createRequest({
        tool: input.tool,
        inputKind: input.inputKind,
        input: input.input,
        cwd: input.cwd,
        room: ctx.roomId,
        project: ctx.project,
        sessionId: permission.sessionID,
        permissionId: permission.id,
        callId: input.callId,
        requester: ctx.requester,
        requesterDevice: ctx.requesterDevice ?? null,
        rule: decision.rule,
        risk: decision.risk ?? "unknown",
        policyHash: decision.policyHash,
        approval: spec,
        expiresAt: t + (a?.expiresInMs ?? autoDecisionWindowMs),
      });
    } catch (error) {
      // Fail closed (R22): what cannot be recorded does not run.
      log.error("recording the request failed", { sessionId: permission.sessionID, permissionId: permission.id, error });
      if (ledger.byPermission(permission.sessionID, permission.id)) return;
      await reject(toAgent.unreviewable(`PocketCoder could not record the request (${error instanceof Error ? error.message : String(error)})`));
      return;
    }
    workspaces.set(req.id, ctx.directory);
    if (workspaces.size > maxRememberedWorkspaces) workspaces.delete(workspaces.keys().next().value!);
    log.info("permission", { requestId: req.id, tool: req.tool, decision: decision.decision, rule: decision.rule });
    if (decision.decision === "allow") {
      const claimed = ledger.atomically(() =>
        ledger.transition(req.id, "pending", "approved", `policy:${decision.rule ?? "default"}`, { by: [], reason: decision.reason })
          ? ledger.claimExecution(req.id, deps.botUserId)
          : null,
      );
      if (claimed?.ok) await track(req.id, dispatch(claimed.request));
    } else if (decision.decision === "deny") {
      if (ledger.transition(req.id, "pending", "denied", "policy", { by: [], reason: decision.reason })) await reject(toAgent.deniedByPolicy(decision.reason));
    } else {
      try {
        await postPrompt(req);
      } catch (error) {
        log.error("posting the approval prompt failed; it is posted again at the next start", { requestId: req.id, error });
      }
      schedule();
    }
  }

  // ── votes by reaction and redaction ────────────────────────────────────────────────────────

  async function onReaction(r: ReactionInput): Promise<void> {
    void recoverOnce();
    const decision = voteKey(r.key);
    if (!decision || r.sender === deps.botUserId) return;
    const req = ledger.byPromptEvent(r.targetEventId);
    if (!req || req.room !== r.roomId) return;
    log.debug("vote by reaction", { requestId: req.id, eventId: r.eventId });
    const result = await castVote(req, {
      eventId: r.eventId,
      roomId: r.roomId,
      voter: r.sender,
      via: "reaction",
      decision,
      reason: null,
      encrypted: r.encrypted,
      verifiedDevice: false,
      device: null,
      originTs: r.originTs,
    });
    const feedback = reactionFeedback(req, r, result);
    if (feedback) await note(req, feedback, [r.sender]);
  }

  function reactionFeedback(req: ApprovalRequest, r: ReactionInput, result: VoteResult): string | null {
    if (result.kind === "ignored") return `${r.sender}: your ${r.key} does not count: ${result.why}.`;
    if (result.kind !== "refused") return null;
    if (result.reason === "not_pending") return `${r.sender}: your ${r.key} came after this request was ${result.state}; it changed nothing.`;
    if (result.reason === "expired") return `${r.sender}: your ${r.key} came after this request expired; it changed nothing.`;
    if (result.reason === "already_voted") return `${r.sender}: you already voted on \`${req.code}\`; remove your earlier vote first to change it.`;
    return null;
  }

  async function onRedaction(r: RedactionInput): Promise<void> {
    void recoverOnce();
    const vote = ledger.getVote(r.redacts);
    if (!vote) return;
    const req = ledger.getRequest(vote.requestId);
    if (!req || req.room !== r.roomId) return;
    let refused: string | null = null;
    const s = ledger.atomically(() => {
      const out = ledger.withdrawVote(r.redacts, r.sender, r.eventId);
      if (out.withdrawn) return settle(req, r.sender);
      if (out.reason === "not_voter" && out.state === "pending") refused = vote.voter;
      return null;
    });
    if (s) await afterSettled(req, s);
    if (refused) await note(req, `${r.sender} removed a vote of ${refused}; only its voter can withdraw it, so it still counts.`, [r.sender]);
  }

  // ── the end of a run ───────────────────────────────────────────────────────────────────────

  async function onRunnerEvent(ev: RunnerEvent): Promise<void> {
    if (ev.type !== "exec.started" && ev.type !== "exec.finished" && ev.type !== "exec.refused") return;
    const key = callKey(ev.session, ev.callId);
    const id = runnerCalls.get(key);
    if (!id) return;
    if (ev.type === "exec.started") {
      if (ledger.markRunning(id, "runner")) await refresh(id);
      return;
    }
    runnerCalls.delete(key);
    await dispatches.get(id)?.catch(() => undefined);
    const req = ledger.getRequest(id)!;
    if (ev.type === "exec.refused") return endWithoutRun(req, `the sandbox refused it (${ev.reason}): ${ev.message}`);
    if (ledger.recordResult(id, "runner", ledgerResult(ev.result)) === null) return;
    await postResult(req, ev.result);
    await refresh(id);
  }

  async function postResult(req: ApprovalRequest, result: ExecResult): Promise<void> {
    if (!req.promptEventId) return;
    try {
      const report = result.status === "refused" ? { markdown: renderRefusal(req.code, "the grant did not match"), attachLog: false } : renderResult(req.code, result);
      await messenger.replyInThread(req.room, req.promptEventId, report.markdown);
      if (report.attachLog) {
        const log = await deps.runner.execLog(result.execId);
        await messenger.uploadFile(req.room, `${req.code}-output.log`, log, "text/plain", { threadRoot: req.promptEventId });
      }
    } catch (error) {
      log.warn("posting the result failed", { requestId: req.id, error });
    }
  }

  function onToolPart(part: ToolPart): void {
    const { status } = part.state;
    if (status !== "completed" && status !== "error") return;
    const key = callKey(part.sessionID, part.callID);
    for (const id of agentCalls.get(key) ?? []) {
      const exec = ledger.getExecution(id);
      const output = status === "completed" ? part.state.output : part.state.error;
      const bytes = Buffer.from(output, "utf8");
      ledger.recordResult(id, "agent", {
        exitCode: status === "completed" ? 0 : 1,
        durationMs: Math.max(0, now() - (exec?.startedAt ?? exec?.claimedAt ?? now())),
        timedOut: false,
        outputSha256: createHash("sha256").update(bytes).digest("hex"),
        outputBytes: bytes.length,
        truncated: false,
      });
      void refresh(id);
    }
    agentCalls.delete(key);
    const bashId = runnerCalls.get(key);
    if (bashId) {
      // The runner reports on its own channel, which may lag behind opencode's; give it a moment.
      setTimeout(() => {
        const req = ledger.getRequest(bashId);
        if (req?.state === "dispatching" && runnerCalls.get(key) === bashId) void endWithoutRun(req, "the command never reached the sandbox");
      }, runnerReportGraceMs).unref();
    }
  }

  async function followRunner(signal: AbortSignal): Promise<void> {
    let after = 0;
    let delay = 500;
    while (!signal.aborted) {
      try {
        for await (const ev of deps.runner.events({ after, signal })) {
          if (ev.seq !== null) after = ev.seq;
          delay = 500;
          await onRunnerEvent(ev).catch((error: unknown) => log.error("runner event failed", { type: ev.type, error }));
        }
      } catch (error) {
        if (signal.aborted) return;
        log.warn("runner event stream broke; reconnecting", { error, delayMs: delay });
      }
      if (signal.aborted) return;
      await new Promise((r) => setTimeout(r, delay).unref());
      delay = Math.min(delay * 2, 10_000);
    }
  }

  // ── expiry, cancellation, start and stop ───────────────────────────────────────────────────

  function schedule(): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (stopped) return;
    const pending = ledger.listPending();
    if (pending.length === 0) return;
    const next = Math.min(...pending.map((r) => r.expiresAt));
    timer = setTimeout(() => void sweepExpired(), Math.min(Math.max(0, next - now()), 2 ** 31 - 1));
    timer.unref();
  }

  async function sweepExpired(): Promise<void> {
    void recoverOnce();
    for (const req of ledger.expireDue("bot:expiry")) {
      decisions.set(req.id, { by: [], at: req.stateChangedAt, reason: "expired" });
      log.info("request expired", { requestId: req.id });
      await answer(req, { reply: "reject", message: toAgent.expired(req, Math.round((req.expiresAt - req.createdAt) / 60_000)) });
      await refresh(req.id);
    }
    schedule();
  }

  async function rejectPendingForSession(sessionId: string, reason: string, actor: string): Promise<number> {
    void recoverOnce();
    let n = 0;
    for (const req of ledger.listPending().filter((r) => r.sessionId === sessionId)) {
      if (!decide(req.id, "cancelled", actor, [actor], reason)) continue;
      n++;
      await answer(req, { reply: "reject", message: toAgent.cancelled(req, actor, reason) });
      await refresh(req.id);
    }
    schedule();
    return n;
  }

  /**
   * Crash recovery, once per engine and before anything else touches a request: what a previous
   * process left dispatching or running becomes `unknown` (R15). Every entry point calls it, since
   * votes delivered by sync may arrive before `start()` — a claim made by this process must never
   * be taken for a leftover. The ledger step is synchronous; the reports follow.
   */
  function recoverOnce(): Promise<void> {
    if (recovery) return recovery;
    const stuck = ledger.recoverAfterCrash("bot:start");
    recovery = (async () => {
      for (const req of stuck) {
        log.warn("request left mid-flight by a crash is now unknown", { requestId: req.id });
        await refresh(req.id);
        await note(req, `⚠️ The bot stopped while \`${req.code}\` was being run; it was not run again. Check the sandbox (its tmux window) to see what happened.`);
      }
    })();
    return recovery;
  }

  async function start(): Promise<void> {
    stopped = false;
    await recoverOnce();
    await sweepExpired();
    for (const req of ledger.listPending()) {
      if (req.promptEventId) await refresh(req.id);
      else await postPrompt(req).catch((error: unknown) => log.error("posting the approval prompt failed", { requestId: req.id, error }));
    }
    schedule();
    runnerAbort = new AbortController();
    runnerLoop = followRunner(runnerAbort.signal);
  }

  async function stop(): Promise<void> {
    stopped = true;
    if (timer) clearTimeout(timer);
    runnerAbort?.abort();
    await runnerLoop;
    await Promise.all(edits.values());
  }

  const engine: ApprovalEngine = {
    onPermissionAsked,
    onReaction,
    onRedaction,
    onToolPart,
    commands: [],
    rejectPendingForSession,
    sweepExpired,
    start,
    stop,
  };
  return {
    ...engine,
    commands: approvalCommands({
      ledger,
      voteAuth: deps.voteAuth,
      roomState: deps.roomState,
      vote: (req, v) => {
        void recoverOnce();
        return castVote(req, v);
      },
    }),
  };
}

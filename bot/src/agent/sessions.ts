// The few OpenCode calls the bot makes, with PocketCoder's rules built in: sessions always get a title
// (no title call to the model), prompts are async (progress comes over events.ts), permission replies
// are `once` or `reject` (opencode's `always` is in-memory and crosses rooms; standing rules live in
// the ledger), and stopping a session also rejects what it left pending (abort does not).
import type { OpencodeClient } from "@opencode-ai/sdk/v2";
import { z } from "zod";
import { PermissionRequest } from "./events.ts";

type Result<T> = { data?: T; error?: unknown; response?: Response };

function unwrap<T>(what: string, r: Result<T>): T {
  if (r.error !== undefined || r.data === undefined) {
    const status = r.response ? ` (HTTP ${r.response.status})` : "";
    throw new Error(`opencode ${what} failed${status}: ${JSON.stringify(r.error ?? "no data")}`);
  }
  return r.data;
}

export type Where = { directory: string };

export async function createSession(client: OpencodeClient, opts: Where & { title: string }): Promise<string> {
  const session = unwrap("session.create", await client.session.create({ directory: opts.directory, title: opts.title }));
  return session.id;
}

/** Queues a prompt; returns at once. While the session is busy the text joins the running turn. */
export async function sendPrompt(client: OpencodeClient, opts: Where & { sessionID: string; text: string }): Promise<void> {
  const r = await client.session.promptAsync({ sessionID: opts.sessionID, directory: opts.directory, parts: [{ type: "text", text: opts.text }] });
  if (r.error !== undefined) unwrap("session.promptAsync", r);
}

export type PermissionReply = { reply: "once" } | { reply: "reject"; message?: string };

/**
 * Answers a permission request. `reject` with a message lets the agent carry on with that feedback;
 * `reject` without one ends the turn. Returns false when opencode no longer knows the request.
 */
export async function replyPermission(client: OpencodeClient, opts: Where & { requestID: string } & PermissionReply): Promise<boolean> {
  const r = await client.permission.reply({
    requestID: opts.requestID,
    directory: opts.directory,
    reply: opts.reply,
    ...(opts.reply === "reject" && opts.message ? { message: opts.message } : {}),
  });
  if (r.error !== undefined && JSON.stringify(r.error).includes("PermissionNotFoundError")) return false;
  return unwrap("permission.reply", r) === true;
}

export async function pendingPermissions(client: OpencodeClient, opts: Where & { sessionID?: string }): Promise<PermissionRequest[]> {
  const list = z.array(PermissionRequest).parse(unwrap("permission.list", await client.permission.list({ directory: opts.directory })));
  return opts.sessionID ? list.filter((p) => p.sessionID === opts.sessionID) : list;
}

/** Aborts the running turn and rejects the session's pending permission requests; returns their ids. */
export async function stopSession(client: OpencodeClient, opts: Where & { sessionID: string }): Promise<string[]> {
  unwrap("session.abort", await client.session.abort({ sessionID: opts.sessionID, directory: opts.directory }));
  const pending = await pendingPermissions(client, opts);
  for (const p of pending) await replyPermission(client, { directory: opts.directory, requestID: p.id, reply: "reject" });
  return pending.map((p) => p.id);
}

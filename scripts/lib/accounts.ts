// The two accounts PocketCoder needs on its homeserver: the operator (admin) and the bot, created when
// missing and the bot exempted from message rate limits. Shared by `npm start` and the compose set-up.
import { ensureUser, exemptFromRateLimits, login, logout } from "./homeserver.ts";

export interface AccountSpec {
  localpart: string;
  password: string;
}

export interface Accounts {
  operatorUserId: string;
  botUserId: string;
  created: string[];
}

export class AccountError extends Error {}

/** Registers the account when missing; true when it was created now. */
export async function ensureAccount(baseUrl: string, sharedSecret: string, spec: AccountSpec, admin: boolean): Promise<boolean> {
  const result = await ensureUser(baseUrl, sharedSecret, { ...spec, admin });
  // Registration opens a session; ending it deletes its device, so the account starts with none.
  if (result.session) await logout(baseUrl, result.session.accessToken);
  return result.created;
}

/** Lifts the bot's message rate limit (progress edits are frequent) through a short operator session. */
export async function exemptBot(baseUrl: string, operatorUserId: string, operatorPassword: string, botUserId: string): Promise<void> {
  const admin = await login(baseUrl, operatorUserId, operatorPassword, "pocketcoder set-up").catch((error: Error) => {
    throw new AccountError(`cannot sign in as ${operatorUserId} (${error.message}); does its password match the account?`);
  });
  try {
    await exemptFromRateLimits(baseUrl, admin.accessToken, botUserId);
  } finally {
    await logout(baseUrl, admin.accessToken);
  }
}

export async function ensureAccounts(
  baseUrl: string,
  sharedSecret: string,
  serverName: string,
  operator: AccountSpec,
  bot: AccountSpec,
): Promise<Accounts> {
  const operatorUserId = `@${operator.localpart}:${serverName}`;
  const botUserId = `@${bot.localpart}:${serverName}`;
  const created: string[] = [];
  if (await ensureAccount(baseUrl, sharedSecret, operator, true)) created.push(operatorUserId);
  if (await ensureAccount(baseUrl, sharedSecret, bot, false)) created.push(botUserId);
  await exemptBot(baseUrl, operatorUserId, operator.password, botUserId);
  return { operatorUserId, botUserId, created };
}

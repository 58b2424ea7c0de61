// One-shot `accounts` service of docker-compose.yml: creates the operator (admin) and bot accounts on
// the compose Synapse when missing and exempts the bot from rate limits, from the secrets in .env.
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { AccountError, ensureAccounts } from "./lib/accounts.ts";

const Env = z.object({
  POCKETCODER_HOMESERVER_URL: z.url(),
  POCKETCODER_SERVER_NAME: z.string().min(1),
  SYNAPSE_SHARED_SECRET_FILE: z.string().min(1),
  OPERATOR_PASSWORD_FILE: z.string().min(1),
  POCKETCODER_PASSWORD_FILE: z.string().min(1),
});

async function secret(path: string, what: string): Promise<string> {
  const value = (await readFile(path, "utf8").catch(() => "")).trim();
  if (value === "") throw new AccountError(`${what} is empty or missing (${path}); set it in .env`);
  return value;
}

async function main(): Promise<void> {
  const parsed = Env.safeParse(process.env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AccountError(`environment variable ${issue.path.join(".")}: ${issue.message}`);
  }
  const env = parsed.data;
  const accounts = await ensureAccounts(
    env.POCKETCODER_HOMESERVER_URL,
    await secret(env.SYNAPSE_SHARED_SECRET_FILE, "SYNAPSE_REGISTRATION_SHARED_SECRET"),
    env.POCKETCODER_SERVER_NAME,
    { localpart: "operator", password: await secret(env.OPERATOR_PASSWORD_FILE, "OPERATOR_PASSWORD") },
    { localpart: "pocketcoder", password: await secret(env.POCKETCODER_PASSWORD_FILE, "POCKETCODER_PASSWORD") },
  );
  for (const userId of accounts.created) console.log(`created ${userId}`);
  console.log(`accounts ready: ${accounts.operatorUserId} (admin), ${accounts.botUserId}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof AccountError ? error.message : error);
  process.exit(1);
});

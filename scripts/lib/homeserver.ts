// The embedded Synapse: render its configuration, start and stop it, and make accounts through the
// shared-secret admin API. Used by `npm start` (scripts/start.ts) and by the test global setup.
import { spawn, type ChildProcess } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const templatesDir = join(repoRoot, "homeserver");

export interface HomeserverOptions {
  /** Folder holding the rendered config, secrets, signing key, database, media and log. Absolute or relative to cwd. */
  dir: string;
  port: number;
  serverName?: string;
  /** Loads homeserver/ratelimits-test.yaml on top, lifting every client rate limit. */
  testMode?: boolean;
  /** Python virtualenv with matrix-synapse; default `${POCKETCODER_CACHE:-<repo>/.cache}/synapse-venv`. */
  venvDir?: string;
  /** How long to wait for `/versions` to answer; default 60 s. */
  readyTimeoutMs?: number;
}

export interface PreparedHomeserver {
  dir: string;
  serverName: string;
  port: number;
  /** Passed to Synapse as repeated `-c`, later files overriding earlier ones. */
  configPaths: string[];
  logPath: string;
  pidPath: string;
  sharedSecret: string;
}

export interface RunningHomeserver {
  baseUrl: string;
  serverName: string;
  dir: string;
  logPath: string;
  sharedSecret: string;
  pid: number;
  /** Settles when the Synapse process ends, with how it ended ("code 0", "SIGTERM"). */
  exited: Promise<string>;
  /** SIGTERM, then SIGKILL after a grace period. Safe to call twice. */
  stop(): Promise<void>;
}

const secretNames = ["registration_shared_secret", "macaroon_secret_key", "form_secret"] as const;

export function defaultVenvDir(): string {
  return join(process.env.POCKETCODER_CACHE ?? join(repoRoot, ".cache"), "synapse-venv");
}

function render(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`homeserver template uses unknown placeholder ${whole}`);
    return value;
  });
}

async function readOrCreateSecret(path: string): Promise<string> {
  if (existsSync(path)) return (await readFile(path, "utf8")).trim();
  const secret = randomBytes(32).toString("base64url");
  await writeFile(path, secret + "\n", { mode: 0o600, flag: "wx" });
  return secret;
}

function python(venvDir: string): string {
  const path = join(venvDir, "bin", "python");
  if (!existsSync(path)) {
    throw new Error(`Synapse is not installed (no ${path}); run: bash scripts/install-homeserver.sh`);
  }
  return path;
}

/**
 * Renders homeserver.yaml and log.config into `dir` (every time, so the port may change between
 * starts) and generates the secrets and signing key on the first start only; later starts keep them.
 */
export async function prepareHomeserver(opts: HomeserverOptions): Promise<PreparedHomeserver> {
  const dir = resolve(opts.dir);
  const serverName = opts.serverName ?? "localhost";
  await mkdir(join(dir, "secrets"), { recursive: true, mode: 0o700 });
  await chmod(join(dir, "secrets"), 0o700);
  const secrets = await Promise.all(secretNames.map((name) => readOrCreateSecret(join(dir, "secrets", name))));
  const logPath = join(dir, "homeserver.log");
  const values = { DIR: dir, PORT: String(opts.port), SERVER_NAME: serverName, LOG_PATH: logPath };
  const configPath = join(dir, "homeserver.yaml");
  const hsTemplate = await readFile(join(templatesDir, "homeserver.yaml.template"), "utf8");
  const logTemplate = await readFile(join(templatesDir, "log.config.template"), "utf8");
  await writeFile(configPath, render(hsTemplate, values), { mode: 0o600 });
  await writeFile(join(dir, "log.config"), render(logTemplate, values), { mode: 0o600 });

  const configPaths = [configPath];
  if (opts.testMode) configPaths.push(join(templatesDir, "ratelimits-test.yaml"));
  const localOverrides = join(dir, "homeserver.local.yaml");
  if (existsSync(localOverrides)) configPaths.push(localOverrides);

  if (!existsSync(join(dir, "signing.key"))) {
    await runToEnd(python(opts.venvDir ?? defaultVenvDir()), [
      "-m", "synapse.app.homeserver", ...configPaths.flatMap((p) => ["-c", p]), "--generate-keys",
    ], dir);
  }
  return {
    dir, serverName, port: opts.port, configPaths, logPath,
    pidPath: join(dir, "homeserver.pid"),
    sharedSecret: secrets[0]!,
  };
}

async function runToEnd(command: string, args: string[], cwd: string): Promise<void> {
  const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`${command} ${args.join(" ")} exited with ${code}:\n${output.trim()}`);
}

export async function tailOfFile(path: string, lines = 40): Promise<string> {
  if (!existsSync(path)) return "(no log file)";
  return (await readFile(path, "utf8")).split("\n").slice(-lines - 1).join("\n").trimEnd();
}

/** Starts Synapse and resolves once `/_matrix/client/versions` answers. */
export async function startHomeserver(opts: HomeserverOptions): Promise<RunningHomeserver> {
  const prepared = await prepareHomeserver(opts);
  const baseUrl = `http://127.0.0.1:${prepared.port}`;
  const bin = python(opts.venvDir ?? defaultVenvDir());
  // Its own process group: a terminal Ctrl-C reaches only our supervisor, which stops children in order.
  const child = spawn(bin, ["-m", "synapse.app.homeserver", ...prepared.configPaths.flatMap((p) => ["-c", p])], {
    cwd: prepared.dir,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once("exit", (code, signal) => resolve([code, signal]));
    child.once("error", (error) => {
      output += `\n${error.message}`;
      resolve([null, null]);
    });
  });
  // Never leave a homeserver behind when our process ends without calling stop().
  const killOnExit = () => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL");
  process.on("exit", killOnExit);
  await writeFile(prepared.pidPath, `${child.pid}\n`);

  const stop = stopper(child, exited, async () => {
    process.off("exit", killOnExit);
    await rm(prepared.pidPath, { force: true });
  });
  try {
    await waitUntilReady(baseUrl, exited, opts.readyTimeoutMs ?? 60_000);
  } catch (error) {
    await stop();
    const logTail = await tailOfFile(prepared.logPath);
    throw new Error(
      `Synapse did not start on ${baseUrl}: ${(error as Error).message}\n` +
        `--- output ---\n${output.trim() || "(none)"}\n--- ${prepared.logPath} (tail) ---\n${logTail}`,
    );
  }
  return {
    baseUrl, serverName: prepared.serverName, dir: prepared.dir, logPath: prepared.logPath,
    sharedSecret: prepared.sharedSecret, pid: child.pid!, stop,
    exited: exited.then(([code, signal]) => signal ?? `code ${code}`),
  };
}

function stopper(child: ChildProcess, exited: Promise<unknown>, cleanup: () => Promise<void>, graceMs = 10_000) {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      }
      await cleanup();
    })();
    return stopping;
  };
}

async function waitUntilReady(baseUrl: string, exited: Promise<[number | null, NodeJS.Signals | null]>, timeoutMs: number) {
  let exitedWith: string | undefined;
  void exited.then(([code, signal]) => (exitedWith = signal ?? `code ${code}`));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exitedWith) throw new Error(`the process exited (${exitedWith})`);
    try {
      const res = await fetch(`${baseUrl}/_matrix/client/versions`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no answer from /_matrix/client/versions within ${timeoutMs} ms`);
}

/** A free TCP port on 127.0.0.1 (the OS picks it; a tiny race remains until the caller binds it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (address === null || typeof address === "string") throw new Error("could not get a free port");
  return address.port;
}

/** True when something already accepts connections on 127.0.0.1:port. */
export async function portInUse(port: number): Promise<boolean> {
  const server = createServer();
  const inUse = await new Promise<boolean>((resolve) => {
    server.once("listening", () => resolve(false));
    server.once("error", () => resolve(true));
    server.listen(port, "127.0.0.1");
  });
  if (!inUse) await new Promise((resolve) => server.close(resolve));
  return inUse;
}

const matrixError = z.object({ errcode: z.string().optional(), error: z.string().optional() }).passthrough();

async function matrixFetch<T>(url: string, init: RequestInit, schema: z.ZodType<T>, what: string): Promise<T> {
  const res = await fetch(url, { ...init, headers: { "content-type": "application/json", ...init.headers } });
  const body: unknown = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = matrixError.safeParse(body);
    const detail = err.success ? `${err.data.errcode ?? "?"}: ${err.data.error ?? ""}` : JSON.stringify(body);
    throw new MatrixHttpError(`${what} failed with HTTP ${res.status} (${detail})`, res.status, err.success ? err.data.errcode : undefined);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${what}: unexpected answer, field "${issue?.path.join(".")}" ${issue?.message}`);
  }
  return parsed.data;
}

export class MatrixHttpError extends Error {
  constructor(message: string, readonly status: number, readonly errcode: string | undefined) {
    super(message);
  }
}

export interface NewUser {
  localpart: string;
  password: string;
  admin?: boolean;
}

export interface UserSession {
  userId: string;
  accessToken: string;
  deviceId: string;
}

const sessionSchema = z.object({ user_id: z.string(), access_token: z.string(), device_id: z.string() });

function toSession(body: z.infer<typeof sessionSchema>): UserSession {
  return { userId: body.user_id, accessToken: body.access_token, deviceId: body.device_id };
}

/** Registers through `/_synapse/admin/v1/register` (works while open registration is off). Makes one device. */
export async function registerUser(baseUrl: string, sharedSecret: string, user: NewUser): Promise<UserSession> {
  const url = `${baseUrl}/_synapse/admin/v1/register`;
  const { nonce } = await matrixFetch(url, { method: "GET" }, z.object({ nonce: z.string() }), "registration nonce");
  const admin = user.admin ?? false;
  const mac = createHmac("sha1", sharedSecret)
    .update(nonce).update("\0").update(user.localpart).update("\0").update(user.password).update("\0")
    .update(admin ? "admin" : "notadmin")
    .digest("hex");
  const body = JSON.stringify({ nonce, username: user.localpart, password: user.password, admin, mac });
  return toSession(await matrixFetch(url, { method: "POST", body }, sessionSchema, `registering ${user.localpart}`));
}

/** Registers the user unless the id is taken; `session` is set only when it was created now. */
export async function ensureUser(
  baseUrl: string,
  sharedSecret: string,
  user: NewUser,
): Promise<{ created: boolean; session?: UserSession }> {
  try {
    return { created: true, session: await registerUser(baseUrl, sharedSecret, user) };
  } catch (error) {
    if (error instanceof MatrixHttpError && error.errcode === "M_USER_IN_USE") return { created: false };
    throw error;
  }
}

export async function login(baseUrl: string, userId: string, password: string, deviceName?: string): Promise<UserSession> {
  const body = JSON.stringify({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: userId },
    password,
    ...(deviceName ? { initial_device_display_name: deviceName } : {}),
  });
  return toSession(await matrixFetch(`${baseUrl}/_matrix/client/v3/login`, { method: "POST", body }, sessionSchema, `login as ${userId}`));
}

/** Ends the session and deletes its device, so helper logins leave no stray devices behind. */
export async function logout(baseUrl: string, accessToken: string): Promise<void> {
  await matrixFetch(
    `${baseUrl}/_matrix/client/v3/logout`,
    { method: "POST", body: "{}", headers: { authorization: `Bearer ${accessToken}` } },
    z.object({}).passthrough(),
    "logout",
  );
}

/** Lifts every message rate limit for `userId` (so the bot's progress edits are never throttled). */
export async function exemptFromRateLimits(baseUrl: string, adminToken: string, userId: string): Promise<void> {
  await matrixFetch(
    `${baseUrl}/_synapse/admin/v1/users/${encodeURIComponent(userId)}/override_ratelimit`,
    { method: "POST", body: JSON.stringify({ messages_per_second: 0, burst_count: 0 }), headers: { authorization: `Bearer ${adminToken}` } },
    z.object({ messages_per_second: z.number(), burst_count: z.number() }),
    `exempting ${userId} from rate limits`,
  );
}

// The bot's configuration: one zod schema, filled from environment variables and an optional
// pocketcoder.yaml (environment wins). Loading reads files but changes nothing, except that the
// data folder's writability is probed, so a bad folder fails now rather than mid-start.
import { accessSync, constants, existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { LoopYaml, readLoopConfig, type LoopConfig } from "./loop-config.ts";

/** `@localpart:server`, server being a host name, IPv4 or [IPv6] literal with an optional port. */
const mxidPattern = /^@[a-z0-9._=\-/+]+:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;
const serverNamePattern = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

export const MatrixUserId = z
  .string()
  .regex(mxidPattern, { error: (i) => `must be a Matrix user id like @bot:example.org, got ${JSON.stringify(i.input)}` });

export const ServerName = z
  .string()
  .regex(serverNamePattern, { error: (i) => `must be a server name like example.org, got ${JSON.stringify(i.input)}` });

const HttpUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
    } catch {
      return false;
    }
  },
  { error: (i) => `must be an http(s) URL like https://matrix.example.org, got ${JSON.stringify(i.input)}` },
);

export const BotConfig = z.object({
  homeserverUrl: HttpUrl.transform((s) => s.replace(/\/+$/, "")),
  userId: MatrixUserId,
  /** Needed only on the first start, to log in once; later starts reuse the saved session. */
  password: z.string().min(1, "must not be empty").optional(),
  dataDir: z.string().min(1, "must not be empty"),
  allowedUsers: z.array(MatrixUserId).default([]),
  allowedServers: z.array(ServerName).default([]),
  allowUnencrypted: z.boolean().default(false),
  operator: MatrixUserId.optional(),
});
/** `loop` is set when an agent is configured (loop-config.ts): rooms then talk to it. */
export type BotConfig = z.infer<typeof BotConfig> & { loop?: LoopConfig };

type Field = keyof z.input<typeof BotConfig>;

/** Where each field may come from; the yaml key is the field name itself. */
const envNames: Record<Field, string> = {
  homeserverUrl: "POCKETCODER_HOMESERVER_URL",
  userId: "POCKETCODER_USER_ID",
  password: "POCKETCODER_PASSWORD",
  dataDir: "POCKETCODER_DATA_DIR",
  allowedUsers: "POCKETCODER_ALLOWED_USERS",
  allowedServers: "POCKETCODER_ALLOWED_SERVERS",
  allowUnencrypted: "POCKETCODER_ALLOW_UNENCRYPTED",
  operator: "POCKETCODER_OPERATOR",
};

/** The yaml file may name a password file but never hold the password itself. */
const YamlFile = z
  .object({
    homeserverUrl: z.string(),
    userId: z.string(),
    passwordFile: z.string(),
    dataDir: z.string(),
    allowedUsers: z.array(z.string()),
    allowedServers: z.array(z.string()),
    allowUnencrypted: z.boolean(),
    operator: z.string(),
    ...LoopYaml,
  })
  .partial()
  .strict();

export type ConfigResult = { ok: true; config: BotConfig; file: string | null } | { ok: false; problems: string[] };

export interface LoadConfigOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
}

const csv = (s: string) => s.split(",").map((x) => x.trim()).filter((x) => x !== "");

function parseBool(s: string): boolean | string {
  const v = s.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off", ""].includes(v)) return false;
  return `must be true or false, got ${JSON.stringify(s)}`;
}

function readSecretFile(path: string): string | { problem: string } {
  try {
    const text = readFileSync(path, "utf8").replace(/\r?\n$/, "");
    return text === "" ? { problem: `file ${path} is empty` } : text;
  } catch (e) {
    return { problem: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
}

function findYaml(opts: LoadConfigOptions): { path: string | null; problem?: string } {
  const named = opts.env.POCKETCODER_CONFIG;
  if (named) {
    const path = resolve(opts.cwd, named);
    return existsSync(path) ? { path } : { path: null, problem: `POCKETCODER_CONFIG: file ${path} does not exist` };
  }
  const implicit = join(opts.cwd, "pocketcoder.yaml");
  return { path: existsSync(implicit) ? implicit : null };
}

function readYaml(path: string): { data: z.infer<typeof YamlFile> } | { problems: string[] } {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, "utf8"));
  } catch (e) {
    const where = e instanceof YAMLParseError && e.linePos ? ` (line ${e.linePos[0].line})` : "";
    return { problems: [`${path}${where}: not valid YAML: ${(e as Error).message.split("\n")[0]}`] };
  }
  const parsed = YamlFile.safeParse(raw ?? {});
  if (parsed.success) return { data: parsed.data };
  return {
    problems: parsed.error.issues.map((i) => {
      if (i.code === "unrecognized_keys") return `${path}: unknown key${i.keys.length > 1 ? "s" : ""} ${i.keys.join(", ")}`;
      const key = i.path.length ? i.path.join(".") : "(top level)";
      return `${path}: ${key}: ${i.message}`;
    }),
  };
}

/**
 * Checks that `dir` exists as a writable directory, or could be created: its nearest existing
 * ancestor is a writable directory. An existing folder is probed with a real write (permission
 * bits say nothing for root or read-only mounts); the probe file is removed at once.
 */
export function dataDirProblem(dir: string): string | null {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) return `${dir} exists but is not a directory`;
    const probe = join(dir, `.pocketcoder-write-probe-${process.pid}`);
    try {
      writeFileSync(probe, "");
      rmSync(probe);
      return null;
    } catch (e) {
      return `${dir} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
    }
  }
  let parent = dirname(dir);
  while (!existsSync(parent) && dirname(parent) !== parent) parent = dirname(parent);
  if (!statSync(parent).isDirectory()) return `${dir} cannot be created: ${parent} is not a directory`;
  try {
    accessSync(parent, constants.W_OK | constants.X_OK);
    return null;
  } catch {
    return `${dir} cannot be created: ${parent} is not writable`;
  }
}

function describeSource(field: Field, source: Partial<Record<Field, string>>, file: string | null): string {
  if (source[field]) return source[field];
  const yamlKey = field === "password" ? "passwordFile" : field;
  return file ? `${envNames[field]} (or ${yamlKey} in ${file})` : envNames[field];
}

export function loadConfig(opts: LoadConfigOptions): ConfigResult {
  const { env, cwd } = opts;
  const problems: string[] = [];
  const found = findYaml(opts);
  if (found.problem) problems.push(found.problem);
  let yaml: z.infer<typeof YamlFile> = {};
  if (found.path) {
    const read = readYaml(found.path);
    if ("problems" in read) problems.push(...read.problems);
    else yaml = read.data;
  }
  const file = found.path;
  const fileDir = file ? dirname(file) : cwd;

  // Each field's raw value and a label for where it came from, used in error messages.
  const input: Partial<Record<Field, unknown>> = {};
  const source: Partial<Record<Field, string>> = {};
  const take = (field: Field, value: unknown, label: string) => {
    if (value === undefined) return;
    input[field] = value;
    source[field] = label;
  };
  const fromYaml = (field: Field, key: keyof typeof yaml = field as keyof typeof yaml) =>
    take(field, yaml[key], `${key} in ${file}`);
  const envValue = (field: Field) => {
    const v = env[envNames[field]];
    return v === undefined || v === "" ? undefined : v;
  };

  for (const field of ["homeserverUrl", "userId", "operator"] as const) {
    fromYaml(field);
    take(field, envValue(field), envNames[field]);
  }
  for (const field of ["allowedUsers", "allowedServers"] as const) {
    fromYaml(field);
    const v = envValue(field);
    take(field, v === undefined ? undefined : csv(v), envNames[field]);
  }

  fromYaml("allowUnencrypted");
  const allowRaw = envValue("allowUnencrypted");
  if (allowRaw !== undefined) {
    const b = parseBool(allowRaw);
    if (typeof b === "string") problems.push(`${envNames.allowUnencrypted}: ${b}`);
    else take("allowUnencrypted", b, envNames.allowUnencrypted);
  }

  if (yaml.dataDir !== undefined) take("dataDir", resolve(fileDir, yaml.dataDir), `dataDir in ${file}`);
  const dataEnv = envValue("dataDir");
  take("dataDir", dataEnv === undefined ? undefined : resolve(cwd, dataEnv), envNames.dataDir);
  if (input.dataDir === undefined) take("dataDir", resolve(cwd, "data"), `${envNames.dataDir} (default ./data)`);

  const passwordEnv = envValue("password");
  const passwordFileEnv = env.POCKETCODER_PASSWORD_FILE || undefined;
  if (passwordEnv !== undefined && passwordFileEnv !== undefined) {
    problems.push("POCKETCODER_PASSWORD and POCKETCODER_PASSWORD_FILE are both set; set only one");
  } else if (passwordEnv !== undefined) {
    take("password", passwordEnv, "POCKETCODER_PASSWORD");
  } else {
    const [path, label] = passwordFileEnv
      ? [resolve(cwd, passwordFileEnv), "POCKETCODER_PASSWORD_FILE"]
      : yaml.passwordFile !== undefined
        ? [resolve(fileDir, yaml.passwordFile), `passwordFile in ${file}`]
        : [undefined, ""];
    if (path !== undefined) {
      const secret = readSecretFile(path);
      if (typeof secret === "string") take("password", secret, label);
      else problems.push(`${label}: ${secret.problem}`);
    }
  }

  const parsed = BotConfig.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = issue.path[0] as Field;
      const where = describeSource(field, source, file);
      const index = typeof issue.path[1] === "number" ? ` (entry ${issue.path[1] + 1})` : "";
      const missing = issue.code === "invalid_type" && input[field] === undefined;
      problems.push(`${where}${index}: ${missing ? "is required" : issue.message}`);
    }
  }
  if (typeof input.dataDir === "string" && input.dataDir !== "") {
    const dirProblem = dataDirProblem(input.dataDir);
    if (dirProblem) problems.push(`${source.dataDir}: ${dirProblem}`);
  }
  const loop = readLoopConfig({ yaml, env, file, fileDir, cwd });
  problems.push(...loop.problems);
  if (problems.length > 0 || !parsed.success) return { ok: false, problems };
  return { ok: true, config: { ...parsed.data, ...(loop.config ? { loop: loop.config } : {}) }, file };
}

/** The message printed when the configuration is unusable: one line per problem. */
export function formatConfigProblems(problems: string[]): string {
  return ["pocketcoder: the configuration is not usable:", ...problems.map((p) => `  - ${p}`)].join("\n");
}

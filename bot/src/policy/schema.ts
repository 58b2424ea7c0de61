// The policy file format (see policies/README.md). Every message here is written to be shown
// after `file: rule N ("id"): field "name": `, so it says what the value must be.
import { z } from "zod";
import { parseDuration } from "./duration.ts";

export const MAX_EXPIRY_MS = 24 * 3_600_000;
export const DEFAULT_EXPIRY = "15m";

export const DecisionKind = z.enum(["allow", "ask", "deny"], { error: 'must be "allow", "ask" or "deny"' });
export type DecisionKind = z.infer<typeof DecisionKind>;

export const Risk = z.enum(["low", "medium", "high", "critical"], { error: 'must be "low", "medium", "high" or "critical"' });
export type Risk = z.infer<typeof Risk>;

const text = z.string({ error: "must be a string" }).min(1, { error: "must not be empty" });

/** A string or a list of strings; always a list after parsing. */
const oneOrMany = z
  .union([text, z.array(text, { error: "must be a string or a list of strings" }).min(1, { error: "must list at least one entry" })], {
    error: "must be a string or a list of strings",
  })
  .transform((v) => (Array.isArray(v) ? v : [v]));

const duration = z.string({ error: 'must be a duration such as "15m", "2h" or "1h30m"' }).superRefine((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null) ctx.addIssue({ code: "custom", message: 'must be a duration such as "15m", "2h" or "1h30m"' });
  else if (ms < 60_000) ctx.addIssue({ code: "custom", message: "must be at least 1m" });
  else if (ms > MAX_EXPIRY_MS) ctx.addIssue({ code: "custom", message: "must be at most 24h" });
});

const quorum = z.number({ error: "must be an integer ≥ 1" }).int({ error: "must be an integer ≥ 1" }).min(1, { error: "must be an integer ≥ 1" });

export const Approvers = z.strictObject(
  {
    minPowerLevel: z.number({ error: "must be an integer" }).int({ error: "must be an integer" }).optional(),
    users: z
      .array(z.string({ error: "must be a Matrix user id such as @alice:example.org" }).regex(/^@[^:\s]+:\S+$/, { error: "must be a Matrix user id such as @alice:example.org" }), {
        error: "must be a list of Matrix user ids",
      })
      .min(1, { error: "must list at least one user" })
      .optional(),
  },
  { error: "must be a map with minPowerLevel and/or users" },
);
export type Approvers = z.infer<typeof Approvers>;

export const Defaults = z.strictObject(
  {
    decision: DecisionKind.optional(),
    quorum: quorum.optional(),
    approvers: Approvers.optional(),
    selfApproval: z.boolean({ error: "must be true or false" }).optional(),
    strict: z.boolean({ error: "must be true or false" }).optional(),
    expires: duration.optional(),
    risk: Risk.optional(),
  },
  { error: "must be a map" },
);
export type Defaults = z.infer<typeof Defaults>;

export const RuleSpec = z.strictObject(
  {
    id: z.string({ error: "must be a string" }).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { error: "must be letters, digits, '.', '_' or '-'" }),
    description: text.optional(),
    message: text.optional(),
    decision: DecisionKind,
    tool: oneOrMany.optional(),
    rooms: oneOrMany.optional(),
    requesters: oneOrMany.optional(),
    projects: oneOrMany.optional(),
    command: oneOrMany.optional(),
    argv: z.array(text, { error: "must be a list of words" }).min(1, { error: "must list at least one word" }).optional(),
    hasArg: oneOrMany.optional(),
    lacksArg: oneOrMany.optional(),
    onlyArgs: oneOrMany.optional(),
    paths: oneOrMany.optional(),
    redirect: oneOrMany.optional(),
    fedBy: oneOrMany.optional(),
    env: oneOrMany.optional(),
    risk: Risk.optional(),
    dangerous: z.boolean({ error: "must be true or false" }).optional(),
    quorum: quorum.optional(),
    approvers: Approvers.optional(),
    selfApproval: z.boolean({ error: "must be true or false" }).optional(),
    strict: z.boolean({ error: "must be true or false" }).optional(),
    expires: duration.optional(),
  },
  { error: "must be a map" },
);
export type RuleSpec = z.infer<typeof RuleSpec>;

export const PolicyFile = z.strictObject(
  {
    version: z.literal(1, { error: "must be 1" }),
    defaults: Defaults.optional(),
    rules: z.array(RuleSpec, { error: "must be a list of rules" }),
  },
  { error: "must be a map with version, defaults and rules" },
);
export type PolicyFile = z.infer<typeof PolicyFile>;

/** Fields that only make sense for bash commands. */
export const BASH_ONLY_FIELDS = ["command", "argv", "hasArg", "lacksArg", "onlyArgs", "redirect", "fedBy", "env"] as const;
/** Fields that only make sense when the rule asks. */
export const ASK_ONLY_FIELDS = ["quorum", "approvers", "selfApproval", "strict", "expires"] as const;
/** Fields that look at a command's words; a redirection has none. */
export const COMMAND_FIELDS = ["command", "argv", "hasArg", "lacksArg", "onlyArgs", "fedBy", "env"] as const;

export const KNOWN_RULE_FIELDS = Object.keys(RuleSpec.shape);
export const KNOWN_DEFAULT_FIELDS = Object.keys(Defaults.shape);
export const KNOWN_FILE_FIELDS = Object.keys(PolicyFile.shape);

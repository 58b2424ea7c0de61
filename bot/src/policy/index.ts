// The policy engine's public surface. See README.md.
export { ensureBashParser } from "./bash-parser.ts";
export { type Approval, type CompiledRule, type Policy, PolicyError } from "./compile.ts";
export { describeForbiddenChar, findForbiddenChar, makeVisible } from "./control-chars.ts";
export { type Decision, type DecisionPart, evaluate, type EvaluateContext, MAX_COMMAND_BYTES, PolicyRequest } from "./evaluate.ts";
export { loadPolicy, parsePolicyText, policyFilesAt, policyFromTexts } from "./load.ts";
export { approversText } from "./reason.ts";
export { DEFAULT_STANDING_TTL_MS, type StandingOptions, type StandingProposal, standingRuleFor } from "./standing.ts";
export { isDangerousRule, StandingRule } from "./standing-match.ts";

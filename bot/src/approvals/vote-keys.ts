// Which reaction keys are votes. Clients differ in whether they append the emoji variation
// selector (U+FE0F), so it is ignored.
import { ALWAYS, APPROVE, DENY } from "./prompt.ts";

export function voteKey(key: string): "approve" | "deny" | "always" | null {
  const bare = key.replace(/\uFE0F/g, "");
  if (bare === APPROVE) return "approve";
  if (bare === DENY) return "deny";
  if (bare === ALWAYS) return "always";
  return null;
}

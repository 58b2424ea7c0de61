// The approval request state machine (notes B2). The same edges are enforced by a trigger in the
// schema, so a bug that skips this module still cannot move a request along an edge that is not here.
export const requestStates = [
  "pending",
  "approved",
  "denied",
  "expired",
  "cancelled",
  "dispatching",
  "running",
  "succeeded",
  "failed",
  "timed_out",
  "unknown",
] as const;

export type RequestState = (typeof requestStates)[number];

export const transitions: Readonly<Record<RequestState, readonly RequestState[]>> = {
  pending: ["approved", "denied", "expired", "cancelled"],
  approved: ["dispatching", "cancelled"],
  dispatching: ["running", "succeeded", "failed", "timed_out", "unknown"],
  running: ["succeeded", "failed", "timed_out", "unknown"],
  denied: [],
  expired: [],
  cancelled: [],
  succeeded: [],
  failed: [],
  timed_out: [],
  unknown: [],
};

/** Edges a decision may take through `transition`; the others belong to the execution calls,
 * which write the execution row in the same transaction. */
export const decisionEdges: ReadonlySet<string> = new Set([
  "pending>approved",
  "pending>denied",
  "pending>expired",
  "pending>cancelled",
  "approved>cancelled",
]);

export function canTransition(from: RequestState, to: RequestState): boolean {
  return transitions[from].includes(to);
}

export function isTerminal(state: RequestState): boolean {
  return transitions[state].length === 0;
}

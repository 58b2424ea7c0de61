// Child for the concurrency test: for each request id read from stdin, votes on it, approves it when
// the tally reaches quorum, then tries to claim it; prints one JSON line per request. The parent
// sends each id to both children at once, so they race on the same request.
// Usage: vote-and-claim.ts DB_PATH VOTER
import { writeSync } from "node:fs";
import { createInterface } from "node:readline";
import { Ledger } from "../../../src/ledger/ledger.ts";

const [path, voter] = process.argv.slice(2) as [string, string];
const ledger = Ledger.open(path);
const room = "!project:example.org";

writeSync(1, "ready\n");
for await (const id of createInterface({ input: process.stdin })) {
  const approved = ledger.atomically(() => {
    const vote = ledger.recordVote({ requestId: id, eventId: `$${voter}-${id}`, room, voter, via: "reaction", encrypted: false, verifiedDevice: false, decision: "approve", originTs: Date.now() });
    const request = ledger.getRequest(id)!;
    return vote.counted && ledger.tally(id).length >= request.approval.quorum && ledger.transition(id, "pending", "approved", voter);
  });
  const claim = ledger.claimExecution(id, voter);
  writeSync(1, JSON.stringify({ id, approved, claimed: claim.ok }) + "\n");
}
ledger.close();

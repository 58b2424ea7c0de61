// Policy decisions per second over the test corpus on one core (target ≥ 20,000/s), beside the
// bare tree-sitter parse rate of the same commands measured in the same run: the part of the
// cost that no evaluation can avoid. Rates are per second of CPU time used by this process, so
// other work on a shared machine does not count against them; the loop is single-threaded. Each
// side is the median of ten rounds, the two alternating, so a short spell of contention on the
// host (it slows this process's CPU time too) is left out; rounds are long enough to include the
// collector's work. Spells of tens of seconds remain: the parse rate alone measured 44-72k/s.
import { resolve } from "node:path";
import { parseBash } from "../src/policy/bash-parser.ts";
import { evaluate, loadPolicy, type PolicyRequest } from "../src/policy/index.ts";
import { corpus, WORKSPACE } from "../test/policy/corpus.ts";
import { type Bench, type Metric, percentile } from "../../scripts/bench/metric.ts";

const ROUNDS = 10;
const ROUND_MS = 300;
const WARMUP_MS = 2_000;

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Runs `step` over the corpus round after round for `ms` of CPU time; operations per CPU second. */
function rate(ms: number, step: (i: number) => void): number {
  let ops = 0;
  const start = cpuMs();
  let used = 0;
  while (used < ms) {
    for (let i = 0; i < corpus.length; i++) step(i);
    ops += corpus.length;
    used = cpuMs() - start;
  }
  return ops / (used / 1000);
}

const bench: Bench = {
  name: "policy",
  async run(): Promise<Metric[]> {
    const policy = await loadPolicy(resolve(import.meta.dirname, "../../policies"));
    const requests: PolicyRequest[] = corpus.map((c) => ({ tool: "bash", command: c.command, cwd: WORKSPACE, workspace: WORKSPACE }));
    let sink = 0;
    const decide = (i: number) => {
      sink += evaluate(requests[i]!, { policy }).parts.length;
    };
    const parse = (i: number) => {
      const tree = parseBash(corpus[i]!.command);
      sink += tree.rootNode.childCount;
      tree.delete();
    };
    rate(WARMUP_MS, decide);
    rate(WARMUP_MS, parse);
    const parsed: number[] = [];
    const decided: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      parsed.push(rate(ROUND_MS, parse));
      decided.push(rate(ROUND_MS, decide));
    }
    if (sink === 0) throw new Error("the benchmark measured nothing");
    return [{ name: "policy.decisions_per_s", value: percentile(decided, 50), unit: "decisions/s", baseline: percentile(parsed, 50), target: { on: "value", op: ">=", limit: 20_000 } }];
  },
};

export default bench;

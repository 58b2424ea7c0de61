// The shape every benchmark reports. A target applies to the value itself or to value/baseline,
// where the baseline is a reference measured in the same run.
export interface Target {
  on: "value" | "ratio";
  op: "<=" | ">=";
  limit: number;
}

export interface Metric {
  name: string;
  value: number;
  unit: string;
  baseline: number | null;
  /** null for a reference figure, printed to put a target's figure in context. */
  target: Target | null;
}

export interface Bench {
  /** Used by `--only`; a metric's name should start with it. */
  name: string;
  run(): Promise<Metric[]>;
}

export function ratioOf(m: Metric): number | null {
  return m.baseline === null || m.baseline === 0 ? null : m.value / m.baseline;
}

/** null when the metric has no target. */
export function targetMet(m: Metric): boolean | null {
  if (m.target === null) return null;
  const subject = m.target.on === "value" ? m.value : ratioOf(m);
  if (subject === null) return false;
  return m.target.op === "<=" ? subject <= m.target.limit : subject >= m.target.limit;
}

export function targetText(t: Target | null): string | null {
  return t === null ? null : `${t.on} ${t.op} ${t.limit}`;
}

/** Percentile of an unsorted sample (nearest rank). */
export function percentile(sample: number[], p: number): number {
  if (sample.length === 0) throw new Error("percentile of an empty sample");
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

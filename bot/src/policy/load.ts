// Reads policy files (one file, or every *.yaml/*.yml in a directory in byte order of their
// names), validates them and compiles them. Loading has no side effects besides reading files
// and initialising the bash parser once. Errors name the file, the rule and the field.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, isAbsolute } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { ensureBashParser } from "./bash-parser.ts";
import { compilePolicy, type Policy, PolicyError, ruleLabel, type SourceFile } from "./compile.ts";
import { KNOWN_DEFAULT_FIELDS, KNOWN_FILE_FIELDS, KNOWN_RULE_FIELDS, PolicyFile } from "./schema.ts";

const MAX_ISSUES = 10;

export function displayName(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

/** The policy files a path stands for: the file itself, or a directory's YAML files in name order. */
export function policyFilesAt(path: string): string[] {
  let stat;
  try {
    stat = statSync(path);
  } catch (err) {
    throw new PolicyError(`${displayName(path)}: cannot read policy: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (!stat.isDirectory()) return [path];
  const names = readdirSync(path)
    .filter((n) => /\.ya?ml$/.test(n))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  if (names.length === 0) throw new PolicyError(`${displayName(path)}: no policy files (*.yaml or *.yml) in this directory`);
  return names.map((n) => join(path, n));
}

/** Parses and validates one file's text; `name` is what messages call it. */
export function parsePolicyText(text: string, name: string): SourceFile {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const pos = yamlError.linePos?.[0];
    const where = pos ? `line ${pos.line}, column ${pos.col}: ` : "";
    const message = yamlError.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw new PolicyError(`${name}: ${where}invalid YAML: ${message}`);
  }
  const raw: unknown = doc.toJS();
  const parsed = PolicyFile.safeParse(raw);
  if (!parsed.success) throw new PolicyError(formatIssues(name, raw, parsed.error.issues));
  return { name, data: parsed.data };
}

export function formatIssues(name: string, raw: unknown, issues: z.core.$ZodIssue[]): string {
  const lines = issues.slice(0, MAX_ISSUES).map((issue) => formatIssue(name, raw, issue));
  if (issues.length > MAX_ISSUES) lines.push(`${name}: … and ${issues.length - MAX_ISSUES} more problems`);
  return [...new Set(lines)].join("\n");
}

function formatIssue(name: string, raw: unknown, issue: z.core.$ZodIssue): string {
  const path = [...issue.path];
  let prefix = name;
  let known = KNOWN_FILE_FIELDS;
  if (path[0] === "rules" && typeof path[1] === "number") {
    const rules = (raw as { rules?: unknown[] }).rules;
    const id = (rules?.[path[1]] as { id?: unknown } | undefined)?.id;
    prefix = ruleLabel(name, path[1], id);
    path.splice(0, 2);
    known = KNOWN_RULE_FIELDS;
  } else if (path[0] === "defaults") {
    prefix = `${name}: defaults`;
    path.splice(0, 1);
    known = KNOWN_DEFAULT_FIELDS;
  }
  if (issue.code === "unrecognized_keys") {
    const field = [...path.map(String), issue.keys[0]!].join(".");
    const hint = path.length === 0 ? suggest(issue.keys[0]!, known) : null;
    return `${prefix}: field "${field}": unknown field${hint ? ` (did you mean "${hint}"?)` : ""}`;
  }
  if (path.length === 0) return `${prefix}: ${issue.message}`;
  const field = path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
  const message = valueAt(raw, issue.path) === undefined ? "is required" : issue.message;
  return `${prefix}: field "${field}": ${message}`;
}

function valueAt(raw: unknown, path: PropertyKey[]): unknown {
  let v = raw;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** The known field closest to a misspelt one, if it is close enough to be a typo. */
function suggest(word: string, known: string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** Compiles already-read texts, in the given order; used for hot reloads and tests. */
export async function policyFromTexts(files: { name: string; text: string }[]): Promise<Policy> {
  await ensureBashParser();
  return compilePolicy(files.map((f) => parsePolicyText(f.text, f.name)));
}

/** Loads a policy file or directory. Throws PolicyError naming the file, rule and field. */
export async function loadPolicy(path: string): Promise<Policy> {
  const files = policyFilesAt(path).map((file) => {
    const name = displayName(file);
    try {
      return { name, text: readFileSync(file, "utf8") };
    } catch (err) {
      throw new PolicyError(`${name}: cannot read policy: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  });
  return policyFromTexts(files);
}

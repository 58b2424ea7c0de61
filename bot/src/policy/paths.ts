// Paths as rules see them: a command's path-like operands, resolved against the directory the
// command runs in and normalised lexically (`/usr/../` is `/`), with `~` kept as the home marker.
// Unknown directories resolve under a sentinel root that is outside every workspace.
import type { PathList } from "./compile.ts";
import { bindVars, globCovers, globsIntersect, type GlobToken, shellGlobAlternatives } from "./glob.ts";
import type { Arg } from "./words.ts";

/** Stands for a workspace or directory nobody told us about. */
export const UNKNOWN_WORKSPACE = "/\u0000workspace";
/** Stands for "somewhere we could not follow" (e.g. after `cd "$X"`): outside every workspace. */
export const UNKNOWN_DIR = "/\u0000unknown";

export interface PathVars {
  workspace: string;
  cwd: string;
  [name: string]: string;
}

/** Anything normalisation would change: `//`, `.` or `..` segments, a trailing slash. */
const NEEDS_NORMALISING = /\/\/|(?:^|\/)\.\.?(?:\/|$)|.\/$/;

export function normalizePath(p: string): string {
  if (p !== "" && !NEEDS_NORMALISING.test(p)) return p;
  const home = p === "~" || p.startsWith("~/");
  const absolute = p.startsWith("/");
  const body = home ? p.slice(1) : p;
  const out: string[] = [];
  for (const seg of body.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === ".." && out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (seg === ".." && (absolute || home)) {
      if (home) out.push("..");
    } else out.push(seg);
  }
  const joined = out.join("/");
  if (home) return joined ? `~/${joined}` : "~";
  if (absolute) return `/${joined}`;
  return joined || ".";
}

export function resolvePath(p: string, base: string): string {
  if (p.startsWith("/") || p === "~" || p.startsWith("~/")) return normalizePath(p);
  return normalizePath(`${base}/${p}`);
}

/** The words of a command that may name files: operands, `--opt=VALUE` values, `if=`/`of=` values, `@file`. */
export function pathOperands(argv: Arg[]): Arg[] {
  const out: Arg[] = [];
  let afterDashDash = false;
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    const v = arg.value;
    if (!afterDashDash && v === "--") {
      afterDashDash = true;
      continue;
    }
    const eq = v.indexOf("=");
    if (!afterDashDash && v.startsWith("-")) {
      if (eq > 0) out.push(slice(arg, eq + 1));
      continue;
    }
    out.push(arg);
    if (eq > 0) out.push(slice(arg, eq + 1));
    if (v.startsWith("@") && v.length > 1) out.push(slice(arg, 1));
  }
  return out;
}

function slice(arg: Arg, from: number): Arg {
  return { ...arg, value: arg.value.slice(from), mask: arg.mask?.slice(from) ?? null };
}

export type Certainty = "possibly" | "certainly";

/** A path operand with its resolved and as-written forms worked out once. */
export interface PathOperand {
  arg: Arg;
  resolved: string;
  written: string;
  /** For a glob: its token alternatives, resolved against the base, worked out on first use. */
  shell?: GlobToken[][];
}

export function pathOperand(arg: Arg, base: string): PathOperand {
  return { arg, resolved: resolvePath(arg.value, base), written: normalizePath(arg.value) };
}

function listMatches(list: PathList, path: string, vars: PathVars): boolean {
  return (list.include === null || list.include.test(path, vars)) && !(list.exclude !== null && list.exclude.test(path, vars));
}

/**
 * Whether a path operand matches a rule's path list. `possibly` (used by ask and deny rules)
 * says yes when any file the word could name matches; `certainly` (used by allow rules) only
 * when every one does.
 */
export function pathListMatches(list: PathList, op: PathOperand, base: string, vars: PathVars, mode: Certainty): boolean {
  const arg = op.arg;
  if (arg.glob) return globPathMatches(list, op, base, vars, mode);
  if (arg.dynamic && mode === "certainly") return false;
  if (listMatches(list, op.resolved, vars)) return true;
  if (op.written === op.resolved || list.include === null) return false;
  // A rule glob written relative (`.env`, `secrets/*`) may only match the path as written; the
  // exclusions still apply to where it really is.
  return list.include.test(op.written, vars) && !(list.exclude !== null && list.exclude.test(op.resolved, vars));
}

function anyIntersects(globs: GlobToken[][][], shell: GlobToken[][], vars: PathVars): boolean {
  for (const alts of globs) for (const alt of alts) for (const tokens of shell) if (globsIntersect(bindVars(alt, vars), tokens, true, true)) return true;
  return false;
}

function allCovered(globs: GlobToken[][][], shell: GlobToken[][], vars: PathVars): boolean {
  return shell.every((tokens) => globs.some((alts) => alts.some((alt) => globCovers(bindVars(alt, vars), tokens, true))));
}

function globPathMatches(list: PathList, op: PathOperand, base: string, vars: PathVars, mode: Certainty): boolean {
  const arg = op.arg;
  const shell = (op.shell ??= resolvedGlobAlternatives(arg, base));
  const climbs = mayClimb(arg);
  const possibly = (globs: GlobToken[][][]) => globs.length > 0 && (climbs || anyIntersects(globs, shell, vars));
  const certainly = (globs: GlobToken[][][]) => !climbs && allCovered(globs, shell, vars);
  if (mode === "certainly") return (list.include === null || certainly(list.includeTokens)) && !possibly(list.excludeTokens);
  return (list.include === null || possibly(list.includeTokens)) && !certainly(list.excludeTokens);
}

/**
 * Whether a glob could climb out of its literal directory: from the first wildcard segment on,
 * `..` itself or a pattern starting with `.` or `[` (older bash lets `.*` match `..`).
 */
function mayClimb(arg: Arg): boolean {
  let globbed = false;
  for (const seg of arg.value.split("/")) {
    globbed ||= /[*?[]/.test(seg);
    if (globbed && (seg === ".." || (/[*?[]/.test(seg) && /^[.[]/.test(seg)))) return true;
  }
  return false;
}

/** Token alternatives of a globbed path: the directories before the first pattern resolved and normalised. */
function resolvedGlobAlternatives(arg: Arg, base: string): GlobToken[][] {
  const value = arg.value;
  const mask = arg.mask ?? "";
  let offset = 0;
  for (const seg of value.split("/")) {
    let globbed = false;
    for (let i = 0; i < seg.length; i++) if (mask[offset + i] === "u" && "*?[".includes(seg[i]!)) globbed = true;
    if (globbed) break;
    offset += seg.length + 1;
  }
  offset = Math.min(offset, value.length);
  const dir = resolvePath(value.slice(0, offset) || ".", base);
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  const lits = prefix.split("").map((c): GlobToken => ({ t: "lit", c }));
  return shellGlobAlternatives(value.slice(offset), mask.slice(offset)).map((alt) => [...lits, ...alt]);
}

/**
 * Whether every file a word can name lies in `dir` or below: for a glob, its literal start must
 * be inside and no segment may match `..`.
 */
export function certainlyUnder(dir: string, arg: Arg, base: string): boolean {
  if (arg.dynamic) return false;
  const root = normalizePath(dir);
  const inside = (p: string) => root === "/" || p === root || p.startsWith(`${root}/`);
  if (!arg.glob) return inside(resolvePath(arg.value, base));
  const firstGlob = arg.value.split("").findIndex((c, i) => arg.mask?.[i] === "u" && "*?[".includes(c));
  const literal = arg.value.slice(0, firstGlob < 0 ? arg.value.length : firstGlob);
  const literalDir = resolvePath(literal.slice(0, literal.lastIndexOf("/") + 1) || ".", base);
  return !mayClimb(arg) && inside(literalDir);
}

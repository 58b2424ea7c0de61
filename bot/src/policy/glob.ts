// Globs for policy rules and for shell words. One parser feeds two back ends: a RegExp for the
// common "does this literal text match" question, and token lists for "could any expansion of
// this shell glob match that rule glob" (`globsIntersect`), which keeps `cat ~/.s*/id_rsa` from
// slipping past a rule about `~/.ssh/**`.

/** `command` globs: `*` crosses everything. `path` globs: `*` stays inside one segment, `**` crosses. */
export type GlobFlavor = "command" | "path";

export type GlobToken =
  | { t: "lit"; c: string }
  | { t: "any" }
  | { t: "class"; neg: boolean; ranges: [number, number][] }
  | { t: "star" }
  | { t: "globstar" };

export class GlobSyntaxError extends Error {}

const MAX_ALTERNATIVES = 256;

/** A placeholder such as `${workspace}`, replaced by a literal path when the glob is compiled. */
const PLACEHOLDER = /^\$\{(workspace|cwd)\}/;

export interface BraceItem {
  ch: string;
  quoted: boolean;
}

/**
 * Bash brace expansion over characters that know whether they were quoted. Returns null when a
 * brace list is unbalanced in a way bash would leave alone (the caller keeps the text literal)
 * and throws when the result would exceed MAX_ALTERNATIVES words.
 */
export function expandBraces(items: BraceItem[]): BraceItem[][] {
  const open = findBraceOpen(items, 0);
  if (open < 0) return [items];
  const close = findBraceClose(items, open);
  if (close < 0) return [items];
  const inner = items.slice(open + 1, close);
  const prefix = items.slice(0, open);
  const suffix = items.slice(close + 1);
  const alternatives = splitTopLevelCommas(inner) ?? sequence(inner);
  if (!alternatives) {
    // `{a}` or `{}` stays literal; keep looking after it.
    const rest = expandBraces(suffix);
    return rest.map((r) => [...items.slice(0, close + 1), ...r]);
  }
  const out: BraceItem[][] = [];
  for (const alt of alternatives) {
    for (const expanded of expandBraces([...prefix, ...alt, ...suffix])) {
      out.push(expanded);
      if (out.length > MAX_ALTERNATIVES) throw new GlobSyntaxError(`brace expansion gives more than ${MAX_ALTERNATIVES} words`);
    }
  }
  return out;
}

function findBraceOpen(items: BraceItem[], from: number): number {
  for (let i = from; i < items.length; i++) {
    const it = items[i]!;
    if (it.ch === "{" && !it.quoted && !(i > 0 && items[i - 1]!.ch === "$" && !items[i - 1]!.quoted)) return i;
  }
  return -1;
}

function findBraceClose(items: BraceItem[], open: number): number {
  let depth = 0;
  for (let i = open; i < items.length; i++) {
    const it = items[i]!;
    if (it.quoted) continue;
    if (it.ch === "{") depth++;
    else if (it.ch === "}" && --depth === 0) return i;
  }
  return -1;
}

function splitTopLevelCommas(inner: BraceItem[]): BraceItem[][] | null {
  const parts: BraceItem[][] = [[]];
  let depth = 0;
  for (const it of inner) {
    if (!it.quoted && it.ch === "{") depth++;
    if (!it.quoted && it.ch === "}") depth--;
    if (!it.quoted && it.ch === "," && depth === 0) parts.push([]);
    else parts[parts.length - 1]!.push(it);
  }
  return parts.length > 1 ? parts : null;
}

/** `{1..5}`, `{a..e}`, `{01..10..2}`. */
function sequence(inner: BraceItem[]): BraceItem[][] | null {
  if (inner.some((i) => i.quoted)) return null;
  const text = inner.map((i) => i.ch).join("");
  const num = /^(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?$/.exec(text);
  const chr = /^([a-zA-Z])\.\.([a-zA-Z])(?:\.\.(-?\d+))?$/.exec(text);
  if (!num && !chr) return null;
  const m = (num ?? chr)!;
  const numeric = num !== null;
  const from = numeric ? Number(m[1]) : m[1]!.charCodeAt(0);
  const to = numeric ? Number(m[2]) : m[2]!.charCodeAt(0);
  const step = Math.abs(Number(m[3] ?? 1)) || 1;
  const count = Math.floor(Math.abs(to - from) / step) + 1;
  if (count > MAX_ALTERNATIVES) throw new GlobSyntaxError(`brace expansion gives more than ${MAX_ALTERNATIVES} words`);
  const width = numeric && /^-?0\d/.test(m[1]!) ? m[1]!.replace("-", "").length : 0;
  const out: BraceItem[][] = [];
  for (let k = 0, v = from; k < count; k++, v += from <= to ? step : -step) {
    const s = numeric ? String(Math.abs(v)).padStart(width, "0") : String.fromCharCode(v);
    const word = (numeric && v < 0 ? "-" : "") + s;
    out.push([...word].map((ch) => ({ ch, quoted: true })));
  }
  return out;
}

/** Splits a rule glob into its brace alternatives, then each alternative into tokens. */
export function parseGlob(pattern: string, flavor: GlobFlavor): GlobToken[][] {
  const items: BraceItem[] = [];
  const chars = [...pattern];
  const placeholders: string[] = [];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === "\\" && i + 1 < chars.length) {
      items.push({ ch: chars[++i]!, quoted: true });
      continue;
    }
    if (ch === "$") {
      const m = PLACEHOLDER.exec(chars.slice(i).join(""));
      if (m) {
        if (flavor !== "path") throw new GlobSyntaxError(`${m[0]} only works in path globs`);
        placeholders.push(m[1]!);
        items.push({ ch: `\u0000${placeholders.length - 1}`, quoted: false });
        i += m[0].length - 1;
        continue;
      }
    }
    items.push({ ch, quoted: false });
  }
  let depth = 0;
  for (const it of items) {
    if (it.quoted) continue;
    if (it.ch === "{") depth++;
    if (it.ch === "}" && --depth < 0) throw new GlobSyntaxError(`unmatched "}" in glob "${pattern}"`);
  }
  if (depth !== 0) throw new GlobSyntaxError(`unclosed "{" in glob "${pattern}"`);
  return expandBraces(items).map((alt) => tokenize(alt, flavor, pattern, placeholders));
}

function tokenize(items: BraceItem[], flavor: GlobFlavor, pattern: string, placeholders: string[]): GlobToken[] {
  const out: GlobToken[] = [];
  for (let i = 0; i < items.length; i++) {
    const { ch, quoted } = items[i]!;
    if (quoted) {
      out.push({ t: "lit", c: ch });
      continue;
    }
    if (ch.startsWith("\u0000")) {
      out.push({ t: "lit", c: `\u0000${placeholders[Number(ch.slice(1))]}` });
      continue;
    }
    if (ch === "*") {
      const double = items[i + 1]?.ch === "*" && !items[i + 1]!.quoted;
      if (double) i++;
      out.push(double && flavor === "path" ? { t: "globstar" } : { t: "star" });
      continue;
    }
    if (ch === "?") {
      out.push({ t: "any" });
      continue;
    }
    if (ch === "[") {
      const parsed = parseClass(items, i);
      if (!parsed) throw new GlobSyntaxError(`unclosed "[" in glob "${pattern}"`);
      out.push(parsed.token);
      i = parsed.end;
      continue;
    }
    out.push({ t: "lit", c: ch });
  }
  return out;
}

/** `[abc]`, `[a-z]`, `[!x]`, `[^x]`; returns null when there is no closing `]`. */
export function parseClass(items: BraceItem[], start: number): { token: GlobToken; end: number } | null {
  let i = start + 1;
  let neg = false;
  if (items[i] && !items[i]!.quoted && (items[i]!.ch === "!" || items[i]!.ch === "^")) {
    neg = true;
    i++;
  }
  const ranges: [number, number][] = [];
  let first = true;
  for (; i < items.length; i++) {
    const { ch, quoted } = items[i]!;
    if (ch === "]" && !quoted && !first) return { token: { t: "class", neg, ranges }, end: i };
    first = false;
    const lo = ch.codePointAt(0)!;
    const dash = items[i + 1];
    const hi = items[i + 2];
    if (dash && dash.ch === "-" && !dash.quoted && hi && !(hi.ch === "]" && !hi.quoted)) {
      ranges.push([lo, hi.ch.codePointAt(0)!]);
      i += 2;
    } else ranges.push([lo, lo]);
  }
  return null;
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
}

function escapeClassChar(s: string): string {
  return s.replace(/[\\\]^[-]/g, "\\$&");
}

function classSource(tok: Extract<GlobToken, { t: "class" }>, flavor: GlobFlavor): string {
  const body = tok.ranges
    .map(([lo, hi]) => {
      const a = escapeClassChar(String.fromCodePoint(lo));
      return lo === hi ? a : `${a}-${escapeClassChar(String.fromCodePoint(hi))}`;
    })
    .join("");
  if (tok.neg) return `[^${body}${flavor === "path" ? "/" : ""}]`;
  return `[${body}]`;
}

/** The RegExp source for one alternative; placeholders become the escaped values in `vars`. */
function regexSource(tokens: GlobToken[], flavor: GlobFlavor, vars: Record<string, string>): string {
  let src = "";
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    switch (tok.t) {
      case "lit":
        src += tok.c.startsWith("\u0000") ? escapeRegex(vars[tok.c.slice(1)] ?? "") : escapeRegex(tok.c);
        break;
      case "any":
        src += flavor === "path" ? "[^/]" : ".";
        break;
      case "class":
        src += classSource(tok, flavor);
        break;
      case "star":
        // Lazy when something follows: V8 then tries the rest at each step instead of running to
        // the end and backing off (measured 1.6× on short paths, 2.7× on 17 KB words). The regex
        // is anchored at both ends, so what it matches does not change.
        src += (flavor === "path" ? "[^/]*" : ".*") + (i < tokens.length - 1 ? "?" : "");
        break;
      case "globstar": {
        const next = tokens[i + 1];
        const prev = tokens[i - 1];
        if (next?.t === "lit" && next.c === "/") {
          src += "(?:.*/)?";
          i++;
        } else if (prev?.t === "lit" && prev.c === "/" && i === tokens.length - 1) {
          // `dir/**` also matches `dir` itself: drop the slash we already emitted.
          src = src.slice(0, -2) + "(?:/.*)?";
        } else src += ".*";
        break;
      }
    }
  }
  return src;
}

export interface CompiledGlob {
  pattern: string;
  flavor: GlobFlavor;
  alternatives: GlobToken[][];
  usesVars: boolean;
  /** The literal first words (command globs), for indexing rules by command name; null if unknown. */
  heads: string[] | null;
  test(text: string, vars?: Record<string, string>): boolean;
}

export function compileGlob(pattern: string, flavor: GlobFlavor): CompiledGlob {
  const alternatives = parseGlob(pattern, flavor);
  const usesVars = alternatives.some((alt) => alt.some((t) => t.t === "lit" && t.c.startsWith("\u0000")));
  const build = (vars: Record<string, string>) =>
    new RegExp(`^(?:${alternatives.map((a) => regexSource(a, flavor, vars)).join("|")})$`, "su");
  const fixed = usesVars ? null : build({});
  const byVars = new Map<string, RegExp>();
  return {
    pattern,
    flavor,
    alternatives,
    usesVars,
    heads: literalHeads(alternatives),
    test(text, vars = {}) {
      if (fixed) return fixed.test(text);
      const key = `${vars.workspace ?? ""}\u0000${vars.cwd ?? ""}`;
      let re = byVars.get(key);
      if (!re) {
        re = build(vars);
        if (byVars.size > 64) byVars.clear();
        byVars.set(key, re);
      }
      return re.test(text);
    },
  };
}

/** The literal first words of a command glob's alternatives, or null if one starts with a wildcard. */
function literalHeads(alternatives: GlobToken[][]): string[] | null {
  const heads = new Set<string>();
  for (const alt of alternatives) {
    let word = "";
    for (const tok of alt) {
      if (tok.t !== "lit") return null;
      if (tok.c === " ") break;
      word += tok.c;
    }
    if (word === "") return null;
    heads.add(word);
  }
  return [...heads];
}

/** Replaces placeholder tokens by literal characters, so token lists can be intersected. */
export function bindVars(tokens: GlobToken[], vars: Record<string, string>): GlobToken[] {
  if (!tokens.some((t) => t.t === "lit" && t.c.startsWith("\u0000"))) return tokens;
  const out: GlobToken[] = [];
  for (const tok of tokens) {
    if (tok.t === "lit" && tok.c.startsWith("\u0000")) for (const c of vars[tok.c.slice(1)] ?? "") out.push({ t: "lit", c });
    else out.push(tok);
  }
  return out;
}

/**
 * Tokens of a shell word that the shell will glob: quoted characters are literal, unquoted
 * `*`, `?` and `[...]` are patterns; `**` counts as crossing directories (globstar may be on).
 */
export function shellGlobTokens(value: string, mask: string): GlobToken[] {
  const items: BraceItem[] = value.split("").map((ch, i) => ({ ch, quoted: mask[i] !== "u" }));
  const out: GlobToken[] = [];
  for (let i = 0; i < items.length; i++) {
    const { ch, quoted } = items[i]!;
    if (quoted) out.push({ t: "lit", c: ch });
    else if (ch === "*") {
      const double = items[i + 1]?.ch === "*" && !items[i + 1]!.quoted;
      if (double) i++;
      out.push(double ? { t: "globstar" } : { t: "star" });
    } else if (ch === "?") out.push({ t: "any" });
    else if (ch === "[") {
      const parsed = parseClass(items, i);
      if (parsed) {
        out.push(parsed.token);
        i = parsed.end;
      } else out.push({ t: "lit", c: ch });
    } else out.push({ t: "lit", c: ch });
  }
  return out;
}

const NOT_DOT: GlobToken = { t: "class", neg: true, ranges: [[46, 46], [47, 47]] };
const MAX_SHELL_ALTERNATIVES = 64;

/**
 * Like shellGlobTokens, but with bash's rule that a wildcard at the start of a path segment never
 * matches a leading `.` (so `*.ts` cannot name `.env.ts`). A star there either matches nothing or
 * starts with a non-dot character, which gives several alternatives.
 */
export function shellGlobAlternatives(value: string, mask: string): GlobToken[][] {
  const out: GlobToken[][] = [];
  dotAlternatives(shellGlobTokens(value, mask), 0, true, [], out);
  return out;
}

function dotAlternatives(tokens: GlobToken[], i: number, segStart: boolean, acc: GlobToken[], out: GlobToken[][]): void {
  if (out.length >= MAX_SHELL_ALTERNATIVES) return;
  if (i === tokens.length) {
    out.push(acc);
    return;
  }
  const tok = tokens[i]!;
  if (!segStart || tok.t === "lit" || tok.t === "class") dotAlternatives(tokens, i + 1, tok.t === "lit" && tok.c === "/", [...acc, tok], out);
  else if (tok.t === "any") dotAlternatives(tokens, i + 1, false, [...acc, NOT_DOT], out);
  else {
    dotAlternatives(tokens, i + 1, true, acc, out);
    dotAlternatives(tokens, i + 1, false, [...acc, NOT_DOT, tok], out);
  }
}

type Single = Exclude<GlobToken, { t: "star" } | { t: "globstar" }>;

function isStar(t: GlobToken): t is Extract<GlobToken, { t: "star" } | { t: "globstar" }> {
  return t.t === "star" || t.t === "globstar";
}

function inClass(tok: Extract<GlobToken, { t: "class" }>, c: string): boolean {
  const cp = c.codePointAt(0)!;
  const hit = tok.ranges.some(([lo, hi]) => cp >= lo && cp <= hi);
  return tok.neg ? !hit : hit;
}

/** Whether two single-character tokens can match the same character (approximate toward yes). */
function compatible(a: Single, b: Single, pathA: boolean, pathB: boolean): boolean {
  if (a.t === "lit" && b.t === "lit") return a.c === b.c;
  if (a.t === "lit") return singleAccepts(b, a.c, pathB);
  if (b.t === "lit") return singleAccepts(a, b.c, pathA);
  if (a.t === "class" && b.t === "class" && !a.neg && !b.neg)
    return a.ranges.some(([l1, h1]) => b.ranges.some(([l2, h2]) => l1 <= h2 && l2 <= h1));
  return true;
}

function singleAccepts(tok: Single, c: string, path: boolean): boolean {
  if (tok.t === "lit") return tok.c === c;
  if (path && c === "/") return false;
  return tok.t === "any" ? true : inClass(tok, c);
}

function starAccepts(star: GlobToken, other: Single, path: boolean): boolean {
  if (star.t === "globstar" || !path) return true;
  return !(other.t === "lit" && other.c === "/");
}

/**
 * Could some string match both token lists? `pathA`/`pathB` say whether `*` and `?` of that side
 * stop at `/`. Memoised over positions, so the cost is |a|·|b|.
 */
export function globsIntersect(a: GlobToken[], b: GlobToken[], pathA: boolean, pathB: boolean): boolean {
  // Cheap rejections first: the fixed characters at both ends must agree.
  for (let i = 0; i < a.length && i < b.length && !isStar(a[i]!) && !isStar(b[i]!); i++)
    if (!compatible(a[i] as Single, b[i] as Single, pathA, pathB)) return false;
  for (let i = a.length - 1, j = b.length - 1; i >= 0 && j >= 0 && !isStar(a[i]!) && !isStar(b[j]!); i--, j--)
    if (!compatible(a[i] as Single, b[j] as Single, pathA, pathB)) return false;
  return intersects(a, b, pathA, pathB, 0, 0, new Uint8Array((a.length + 1) * (b.length + 1)));
}

/** memo: 0 unknown, 1 being computed or false, 2 true. */
function intersects(a: GlobToken[], b: GlobToken[], pathA: boolean, pathB: boolean, i: number, j: number, memo: Uint8Array): boolean {
  const key = i * (b.length + 1) + j;
  if (memo[key] !== 0) return memo[key] === 2;
  memo[key] = 1;
  let r: boolean;
  const ai = a[i];
  const bj = b[j];
  if (ai === undefined && bj === undefined) r = true;
  else if (ai !== undefined && isStar(ai)) {
    r =
      intersects(a, b, pathA, pathB, i + 1, j, memo) ||
      (bj !== undefined && (isStar(bj) || starAccepts(ai, bj, pathA)) && intersects(a, b, pathA, pathB, i, j + 1, memo));
  } else if (bj !== undefined && isStar(bj)) {
    r = intersects(a, b, pathA, pathB, i, j + 1, memo) || (ai !== undefined && starAccepts(bj, ai, pathB) && intersects(a, b, pathA, pathB, i + 1, j, memo));
  } else if (ai !== undefined && bj !== undefined) r = compatible(ai as Single, bj as Single, pathA, pathB) && intersects(a, b, pathA, pathB, i + 1, j + 1, memo);
  else r = false;
  memo[key] = r ? 2 : 1;
  return r;
}

/** Token alternatives of a path rule glob with `**\/` and a trailing `/**` made optional. */
export function pathAlternatives(tokens: GlobToken[]): GlobToken[][] {
  let out: GlobToken[][] = [[]];
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    const next = tokens[i + 1];
    const prev = tokens[i - 1];
    if (tok.t === "globstar" && next?.t === "lit" && next.c === "/") {
      out = out.flatMap((p) => [p, [...p, tok, next]]);
      i++;
    } else if (tok.t === "globstar" && i === tokens.length - 1 && prev?.t === "lit" && prev.c === "/") {
      out = out.flatMap((p) => [p.slice(0, -1), [...p, tok]]);
    } else for (const p of out) p.push(tok);
  }
  return out;
}

/**
 * A sufficient test that every string the shell glob `shell` can produce matches the rule glob
 * `rule`: rule wildcards must absorb the shell's wildcards as whole symbols. Sound, not
 * complete; a false answer only means "not certain".
 */
export function globCovers(rule: GlobToken[], shell: GlobToken[], pathRule: boolean): boolean {
  // Where neither side ends (or starts) with a wildcard, those symbols can only pair with each
  // other: a cheap, exact rejection of most rules before the full walk.
  const r = rule[rule.length - 1];
  const s = shell[shell.length - 1];
  if (r && s && !isStar(r) && !isStar(s) && !atomCovers(r, s, pathRule)) return false;
  if (rule[0] && shell[0] && !isStar(rule[0]) && !isStar(shell[0]) && !atomCovers(rule[0], shell[0], pathRule)) return false;
  return covers(rule, shell, pathRule, 0, 0, new Uint8Array((rule.length + 1) * (shell.length + 1)));
}

/** Can the rule star absorb this shell symbol (a path star never swallows `/` or `**`)? */
function absorbs(star: GlobToken, atom: GlobToken, pathRule: boolean): boolean {
  if (star.t === "globstar" || !pathRule) return true;
  if (atom.t === "globstar") return false;
  return !(atom.t === "lit" && atom.c === "/");
}

function atomCovers(r: GlobToken, s: GlobToken, pathRule: boolean): boolean {
  if (r.t === "lit") return s.t === "lit" && s.c === r.c;
  if (r.t === "any") return s.t !== "lit" || !pathRule || s.c !== "/";
  if (r.t === "class") return s.t === "lit" && inClass(r, s.c);
  return false;
}

/** memo: 0 unknown, 1 false, 2 true. */
function covers(rule: GlobToken[], shell: GlobToken[], pathRule: boolean, i: number, j: number, memo: Uint8Array): boolean {
  const key = i * (shell.length + 1) + j;
  if (memo[key] !== 0) return memo[key] === 2;
  let r: boolean;
  const ri = rule[i];
  const sj = shell[j];
  if (!ri) r = !sj;
  else if (isStar(ri)) r = covers(rule, shell, pathRule, i + 1, j, memo) || (sj !== undefined && absorbs(ri, sj, pathRule) && covers(rule, shell, pathRule, i, j + 1, memo));
  else if (!sj || isStar(sj)) r = false;
  else r = atomCovers(ri, sj, pathRule) && covers(rule, shell, pathRule, i + 1, j + 1, memo);
  memo[key] = r ? 2 : 1;
  return r;
}

/** Several globs tested as one: one RegExp, with a shared leading `**\/` factored out. */
export interface GlobList {
  globs: CompiledGlob[];
  test(text: string, vars?: Record<string, string>): boolean;
}

const ANY_DIRS = "(?:.*/)?";

export function compileGlobList(globs: CompiledGlob[]): GlobList {
  const usesVars = globs.some((g) => g.usesVars);
  const build = (vars: Record<string, string>) => {
    const underAnyDir: string[] = [];
    const rest: string[] = [];
    for (const g of globs)
      for (const alt of g.alternatives) {
        const src = regexSource(alt, g.flavor, vars);
        if (src.startsWith(ANY_DIRS)) underAnyDir.push(src.slice(ANY_DIRS.length));
        else rest.push(src);
      }
    const parts = underAnyDir.length ? [`${ANY_DIRS}(?:${underAnyDir.join("|")})`, ...rest] : rest;
    return new RegExp(`^(?:${parts.join("|")})$`, "su");
  };
  const fixed = usesVars ? null : build({});
  let lastKey = "";
  let last: RegExp | null = null;
  return {
    globs,
    test(text, vars = {}) {
      if (fixed) return fixed.test(text);
      const key = `${vars.workspace ?? ""}\u0000${vars.cwd ?? ""}`;
      if (key !== lastKey || !last) {
        last = build(vars);
        lastKey = key;
      }
      return last.test(text);
    },
  };
}

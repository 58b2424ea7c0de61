// Walks a tree-sitter-bash tree and lists every unit the evaluator must judge: each simple
// command (wherever it hides: lists, pipelines, subshells, loops, functions, substitutions,
// heredocs, `sh -c` text) and each file redirection. It also records why some of them can never
// be allowed unattended (floors), what feeds each command, and the directory it runs in.
import type { Node } from "web-tree-sitter";
import { parseBash } from "./bash-parser.ts";
import type { Analysis, CommandUnit, Floor, RedirectUnit, Unit } from "./model.ts";
import { resolvePath, UNKNOWN_DIR } from "./paths.ts";
import { type Arg, collectSubstitutions, evaluateWord, staticValue } from "./words.ts";
import { unwrap } from "./wrappers.ts";

/** How deep `sh -c '…'`/`eval '…'` text is parsed again. */
const MAX_NESTING = 3;
/** How deep statements may nest before the rest is not followed (and the command asks). */
const MAX_DEPTH = 200;

const REDIRECT_TYPES = new Set(["file_redirect", "heredoc_redirect", "herestring_redirect"]);
const WRITE_OPS = new Set([">", ">>", ">|", "&>", "&>>", ">&", "<>"]);
/** Redirect targets that write nowhere. */
const HARMLESS_TARGETS = /^\/dev\/(?:null|stdout|stderr|tty|fd\/[0-9]+)$/;

interface Ctx {
  /** Commands whose output flows into the statement being walked. */
  upstream: CommandUnit[];
  background: boolean;
  /** Inside `$(…)`, backquotes, `<(…)` or `>(…)`. */
  substituted: boolean;
}

const TOP: Ctx = { upstream: [], background: false, substituted: false };

export interface AnalyseOptions {
  /** The directory the command starts in. */
  cwd: string;
}

class Analyser {
  readonly units: Unit[] = [];
  readonly floors: Floor[] = [];
  private cwd: string;
  private depth = 0;
  /** The text being parsed; node offsets index into it. */
  private source = "";

  constructor(
    cwd: string,
    private readonly nesting: number,
  ) {
    this.cwd = cwd;
  }

  program(text: string, ctx: Ctx): void {
    this.source = text;
    const tree = parseBash(text);
    try {
      if (tree.rootNode.hasError && !this.floors.some((f) => f.id === "parse-error"))
        this.floors.push({ id: "parse-error", why: `bash cannot parse it as written (${describeError(tree.rootNode)})` });
      this.statement(tree.rootNode, ctx);
    } finally {
      tree.delete();
    }
  }

  private statement(node: Node, ctx: Ctx): void {
    if (this.depth >= MAX_DEPTH) {
      if (!this.floors.some((f) => f.id === "too-deep")) this.floors.push({ id: "too-deep", why: `it nests more than ${MAX_DEPTH} levels deep` });
      return;
    }
    this.depth++;
    try {
      this.statementAt(node, ctx);
    } finally {
      this.depth--;
    }
  }

  private statementAt(node: Node, ctx: Ctx): void {
    switch (node.type) {
      case "command":
        return void this.command(node, ctx, [], []);
      case "redirected_statement":
        return this.redirected(node, ctx);
      case "pipeline":
        return this.pipeline(node, ctx);
      case "subshell":
        return this.scoped(() => this.children(node, ctx));
      case "function_definition":
        return this.functionDefinition(node, ctx);
      case "variable_assignment":
      case "variable_assignments":
        return this.bareAssignment(node, ctx);
      case "declaration_command":
      case "unset_command":
      case "test_command":
        return void this.pseudoCommand(node, ctx);
      case "compound_statement":
        if (node.child(0)?.type === "((") return void this.pseudoCommand(node, ctx);
        return this.children(node, ctx);
      case "file_redirect":
      case "heredoc_redirect":
      case "herestring_redirect":
        // A redirection on its own: `> file` truncates it, `$(<file)` reads it.
        return this.redirect(node, ctx, null);
      case "comment":
      case "heredoc_body":
      case "heredoc_start":
      case "heredoc_end":
        return;
      case "for_statement":
      case "case_statement":
      case "case_item":
      case "if_statement":
      case "elif_clause":
      case "else_clause":
      case "while_statement":
      case "c_style_for_statement":
      case "do_group":
      case "negated_command":
      case "program":
      case "list":
        return this.children(node, ctx);
      case "ERROR":
        return this.error(node, ctx);
      default:
        // Words in statement position (`for x in $(…)`, `case $(…) in`): only their substitutions run.
        if (node.isNamed) this.substitutions(collect(node), null);
        else this.children(node, ctx);
    }
  }

  /**
   * Text tree-sitter could not parse. A parse-error floor already applies; still judge what is
   * there, so a denied command inside stays denied. tree-sitter reads a command that starts with a
   * brace expansion (`{rm,-rf,/}`) as a broken group, so read it again behind `command`.
   */
  private error(node: Node, ctx: Ctx): void {
    const first = node.child(0);
    const second = node.child(1);
    if (first?.type === "{" && second && second.startIndex === first.endIndex && this.nesting < MAX_NESTING) {
      const inner = new Analyser(this.cwd, this.nesting + 1);
      inner.program(`command ${node.text}`, ctx);
      const first = inner.units[0];
      if (first?.kind === "command") first.text = first.text.replace(/^command /, "");
      this.units.push(...inner.units);
      return;
    }
    this.children(node, ctx);
  }

  /** Walks a node's statements; a statement followed by `&` runs in the background. */
  private children(node: Node, ctx: Ctx): void {
    const kids = node.children as Node[];
    for (let i = 0; i < kids.length; i++) {
      const child = kids[i]!;
      if (!child.isNamed && child.type !== "ERROR") continue;
      const background = kids[i + 1]?.type === "&";
      this.statement(child, background ? { ...ctx, background: true } : ctx);
    }
  }

  /** A subshell's `cd` does not outlive it. */
  private scoped(walk: () => void): void {
    const saved = this.cwd;
    walk();
    this.cwd = saved;
  }

  private pipeline(node: Node, ctx: Ctx): void {
    this.stages(node, ctx, (child, stageCtx) => this.scoped(() => this.statement(child, stageCtx)));
  }

  /** Walks a pipeline's stages, each seeing the commands upstream of it. */
  private stages(node: Node, ctx: Ctx, walk: (child: Node, stageCtx: Ctx) => void): void {
    let upstream = ctx.upstream;
    const kids = node.children as Node[];
    for (let i = 0; i < kids.length; i++) {
      const child = kids[i]!;
      if (!child.isNamed) continue;
      const before = this.units.length;
      walk(child, { ...ctx, upstream });
      upstream = [...upstream, ...commandsSince(this.units, before)];
    }
  }

  private redirected(node: Node, ctx: Ctx): void {
    const body = node.childForFieldName("body");
    const redirects: Node[] = [];
    const kids = node.children as Node[];
    for (let i = 0; i < kids.length; i++) {
      const child = kids[i]!;
      if (REDIRECT_TYPES.has(child.type)) redirects.push(child);
    }
    // tree-sitter puts words after a redirect target (`ls > out -la`) inside the redirect.
    const extraArgs = redirects.flatMap((r) => (r.type === "file_redirect" ? this.destinations(r).slice(1) : []));
    if (body?.type === "command") {
      this.command(body, ctx, extraArgs, redirects);
      return;
    }
    if (body) this.statement(body, ctx);
    if (extraArgs.length) this.floors.push({ id: "parse-error", why: "words follow the redirection of a compound command" });
    for (const r of redirects) this.redirect(r, ctx, null);
  }

  /** A command already split into words by the plain-text path. */
  plainCommand(text: string, assignments: Arg[], argv: Arg[]): void {
    const unit: CommandUnit = { kind: "command", text, argv, assignments, layers: [], floors: [], sources: [], base: this.cwd };
    this.units.push(unit);
    if (argv.length === 0) {
      unit.floors.push({ id: "assignment", why: `it sets the shell variable ${assignments.map((a) => a.value).join(", ")}, which stays set for later commands` });
      return;
    }
    this.judgeShape(unit, TOP);
    this.trackCd(unit);
  }

  /** A simple command; `redirects` are those of an enclosing redirected_statement. */
  /**
   * Whether two sibling nodes are one shell word: nothing between them (`$"…"` arrives as two
   * siblings), or only line continuations, which bash removes before splitting words but
   * tree-sitter treats as blanks (`.e\<newline>nv` is `.env`).
   */
  private joined(previous: Node | null, next: Node): boolean {
    if (!previous) return false;
    if (next.startIndex === previous.endIndex) return true;
    return /^(?:\\\n)+$/.test(this.source.slice(previous.endIndex, next.startIndex));
  }

  /** A file redirect's destination words, grouped into shell words; the first is the target. */
  private destinations(redirect: Node): Node[][] {
    const groups: Node[][] = [];
    let previous: Node | null = null;
    for (const n of redirect.childrenForFieldName("destination")) {
      if (!n) continue;
      if (this.joined(previous, n)) groups[groups.length - 1]!.push(n);
      else groups.push([n]);
      previous = n;
    }
    return groups;
  }

  private command(node: Node, ctx: Ctx, extraArgs: Node[][], redirects: Node[]): CommandUnit {
    const unit: CommandUnit = { kind: "command", text: node.text.trim(), argv: [], assignments: [], layers: [], floors: [], sources: [...ctx.upstream], base: this.cwd };
    this.units.push(unit);
    const ownRedirects: Node[] = [];
    const words: Node[][] = [];
    let previous: Node | null = null;
    const kids = node.children as Node[];
    for (let i = 0; i < kids.length; i++) {
      const child = kids[i]!;
      const type = child.type;
      if (type === "variable_assignment") {
        unit.assignments.push(this.assignment(child, unit));
        continue;
      }
      if (REDIRECT_TYPES.has(type)) {
        ownRedirects.push(child);
        continue;
      }
      if (type === "comment") continue;
      const wordNode = type === "command_name" ? child.namedChild(0) ?? child : child;
      if (this.joined(previous, child)) words[words.length - 1]!.push(wordNode);
      else words.push([wordNode]);
      previous = child;
    }
    for (const group of [...words, ...extraArgs]) {
      const result = evaluateWord(group);
      unit.argv.push(...result.args);
      this.substitutions(result.substitutions, unit);
    }
    for (const r of [...ownRedirects, ...redirects]) this.redirect(r, ctx, unit);
    this.judgeShape(unit, ctx);
    this.trackCd(unit);
    return unit;
  }

  private assignment(node: Node, unit: CommandUnit | null): Arg {
    const value = node.childForFieldName("value");
    const name = node.childForFieldName("name")?.text ?? node.text;
    const subs: Node[] = [];
    collectSubstitutions(node, subs);
    this.substitutions(subs, unit);
    let dynamic = subs.length > 0 || (node.childForFieldName("name")?.type === "subscript");
    if (value && !dynamic) {
      const result = evaluateWord([value]);
      dynamic = result.args.some((a) => a.dynamic);
    }
    return { value: name, dynamic, glob: false, mask: null, text: node.text };
  }

  /** Floors that follow from the command's shape, then its wrappers and interpreters. */
  private judgeShape(unit: CommandUnit, ctx: Ctx): void {
    if (ctx.substituted) unit.floors.push({ id: "substitution", why: "it runs inside a command or process substitution" });
    if (ctx.background) unit.floors.push({ id: "background", why: "it runs in the background (&)" });
    if (unit.argv.length === 0) {
      if (unit.assignments.length) unit.floors.push({ id: "assignment", why: `it sets the shell variable ${unit.assignments.map((a) => a.value).join(", ")}, which stays set for later commands` });
      return;
    }
    const unwrapped = unwrap(unit.argv);
    unit.layers = unwrapped.layers;
    unit.assignments.push(...unwrapped.env);
    unit.floors.push(...unwrapped.floors);
    const dynamicArg = unit.layers.flatMap((l) => l.argv.slice(1)).find((a) => a.dynamic);
    if (dynamicArg) unit.floors.push({ id: "expansion", why: `the argument \`${dynamicArg.text}\` is only known when it runs; write the value literally to avoid asking` });
    const nonAscii = unit.layers.map((l) => l.name).find((n) => /[^\x20-\x7e]/.test(n));
    if (nonAscii) {
      const cp = [...nonAscii].find((c) => /[^\x20-\x7e]/.test(c))!.codePointAt(0)!;
      unit.floors.push({ id: "lookalike", why: `the command name \`${nonAscii}\` contains the non-ASCII character U+${cp.toString(16).toUpperCase().padStart(4, "0")}` });
    }
    for (const code of unwrapped.code) this.nested(code, unit);
  }

  /** Parses `sh -c`/`eval` text as shell code; its commands read what the outer one reads. */
  private nested(code: string, unit: CommandUnit): void {
    if (this.nesting >= MAX_NESTING) {
      unit.floors.push({ id: "parse-error", why: "shell code is nested too deeply to follow" });
      return;
    }
    const inner = new Analyser(this.cwd, this.nesting + 1);
    inner.program(code, { upstream: unit.sources, background: false, substituted: false });
    this.units.push(...inner.units);
    for (const f of inner.floors) unit.floors.push({ id: f.id, why: `inside \`${unit.layers[0]?.name ?? "sh"}\`: ${f.why}` });
  }

  /** `cd DIR` changes where later relative paths point; a `cd` we cannot follow makes them unknown. */
  private trackCd(unit: CommandUnit): void {
    const name = unit.layers[unit.layers.length - 1]?.name;
    if (name !== "cd" && name !== "pushd") return;
    const operands = unit.layers[unit.layers.length - 1]!.argv.slice(1).filter((a) => !a.value.startsWith("-") || a.value === "-");
    if (operands.length === 0) this.cwd = "~";
    else {
      const dir = staticValue(operands.slice(0, 1));
      this.cwd = dir === null || dir === "-" ? UNKNOWN_DIR : resolvePath(dir, this.cwd);
    }
  }

  private substitutions(nodes: Node[], owner: CommandUnit | null): void {
    for (const sub of nodes) {
      const output = sub.type === "process_substitution" && sub.child(0)?.type === ">(";
      // `>(cmd)` reads what the owner writes; `$(cmd)` and `<(cmd)` feed the owner.
      const upstream = output && owner ? [...owner.sources, owner] : [];
      const before = this.units.length;
      this.scoped(() => this.children(sub, { upstream, background: false, substituted: true }));
      if (owner && !output) owner.sources.push(...commandsSince(this.units, before));
      if (owner && !owner.floors.some((f) => f.id === "substitution"))
        owner.floors.push({ id: "substitution", why: `it uses the output of \`${sub.text.slice(0, 60)}\`` });
    }
  }

  private redirect(node: Node, ctx: Ctx, owner: CommandUnit | null): void {
    if (node.type === "herestring_redirect" || node.type === "heredoc_redirect") return this.inputRedirect(node, ctx, owner);
    let op = "";
    const kids = node.children as Node[];
    for (let i = 0; i < kids.length; i++) {
      const child = kids[i]!;
      if (!child.isNamed && child.type !== "ERROR") op = child.type;
    }
    const target = this.destinations(node)[0];
    if (!target) return;
    const result = evaluateWord(target);
    this.substitutions(result.substitutions, owner);
    const arg = result.args.length === 1 ? result.args[0]! : { ...result.args[0]!, dynamic: true };
    // `2>&1`, `>&-`: a descriptor, not a file.
    if ((op === ">&" || op === "<&") && /^(?:[0-9]+-?|-)$/.test(arg.value)) return;
    const write = WRITE_OPS.has(op);
    if (!arg.dynamic && HARMLESS_TARGETS.test(arg.value)) return;
    const written = this.source.slice(target[0]!.startIndex, target[target.length - 1]!.endIndex);
    const unit: RedirectUnit = { kind: "redirect", text: `${op} ${written}`, write, target: arg, floors: [], base: this.cwd };
    if (arg.dynamic) unit.floors.push({ id: "redirect-dynamic", why: `the file name \`${written}\` is only known when it runs` });
    if (ctx.substituted) unit.floors.push({ id: "substitution", why: "it happens inside a command or process substitution" });
    this.units.push(unit);
  }

  /** Heredocs and here-strings: their substitutions run; trailing `| cmd` reads the command. */
  private inputRedirect(node: Node, ctx: Ctx, owner: CommandUnit | null): void {
    const subs: Node[] = [];
    const quoted = /['"\\]/.test(node.childForFieldName("heredoc_start")?.text ?? node.children.find((c) => c?.type === "heredoc_start")?.text ?? "");
    const kids = node.children as Node[];
    for (let i = 0; i < kids.length; i++) {
      const child = kids[i]!;
      if (child.type === "heredoc_body") {
        if (!quoted) collectSubstitutions(child, subs);
      } else if (child.type === "pipeline") {
        const upstream = owner ? [...ctx.upstream, owner] : ctx.upstream;
        this.pipelineTail(child, { ...ctx, upstream });
      } else if (child.type === "file_redirect") this.redirect(child, ctx, owner);
      else if (child.isNamed && !child.type.startsWith("heredoc")) {
        if (node.type === "herestring_redirect") collectSubstitutions(child, subs);
        else this.statement(child, ctx);
      }
    }
    this.substitutions(subs, owner);
  }

  /** `cat <<EOF | sh`: tree-sitter nests the rest of the pipeline in the heredoc redirect. */
  private pipelineTail(node: Node, ctx: Ctx): void {
    this.stages(node, ctx, (child, stageCtx) => this.statement(child, stageCtx));
  }

  private functionDefinition(node: Node, ctx: Ctx): void {
    const name = node.childForFieldName("name")?.text ?? "?";
    this.units.push({
      kind: "command",
      text: `${name}() { … }`,
      argv: [],
      assignments: [],
      layers: [],
      floors: [{ id: "function", why: `it defines the shell function \`${name}\`, which can shadow any command` }],
      sources: [],
      base: this.cwd,
    });
    const body = node.childForFieldName("body");
    if (body) this.scoped(() => this.statement(body, ctx));
  }

  private bareAssignment(node: Node, ctx: Ctx): void {
    const nodes = node.type === "variable_assignments" ? node.namedChildren.filter((c): c is Node => c !== null) : [node];
    const unit: CommandUnit = { kind: "command", text: node.text.trim(), argv: [], assignments: [], layers: [], floors: [], sources: [], base: this.cwd };
    this.units.push(unit);
    for (const a of nodes) unit.assignments.push(this.assignment(a, unit));
    const names = unit.assignments.map((a) => a.value).join(", ");
    unit.floors.push({ id: "assignment", why: `it sets the shell variable ${names}, which stays set for later commands` });
    if (ctx.background) unit.floors.push({ id: "background", why: "it runs in the background (&)" });
  }

  /** `export`/`local`/`unset`/`[[ … ]]`/`(( … ))`: judged like a command named by their keyword. */
  private pseudoCommand(node: Node, ctx: Ctx): CommandUnit {
    const unit: CommandUnit = { kind: "command", text: node.text.trim(), argv: [], assignments: [], layers: [], floors: [], sources: [...ctx.upstream], base: this.cwd };
    this.units.push(unit);
    this.flatten(node, unit, ctx);
    this.judgeShape(unit, ctx);
    return unit;
  }

  private flatten(node: Node, unit: CommandUnit, ctx: Ctx): void {
    const kids = node.children as Node[];
    for (let i = 0; i < kids.length; i++) {
      const child = kids[i]!;
      if (child.type === "variable_assignment") {
        const a = this.assignment(child, unit);
        unit.argv.push({ ...a, value: a.dynamic ? a.text : evaluateWord([child]).args[0]!.value });
      } else if (!child.isNamed) {
        unit.argv.push({ value: child.type, dynamic: false, glob: false, mask: null, text: child.text });
      } else if (isWordNode(child)) {
        const result = evaluateWord([child]);
        unit.argv.push(...result.args);
        this.substitutions(result.substitutions, unit);
      } else this.flatten(child, unit, ctx);
    }
  }
}

const WORD_TYPES = new Set([
  "word", "string", "raw_string", "ansi_c_string", "concatenation", "simple_expansion", "expansion", "command_substitution",
  "process_substitution", "arithmetic_expansion", "number", "variable_name", "test_operator", "regex", "extglob_pattern", "brace_expression",
]);

function isWordNode(node: Node): boolean {
  return WORD_TYPES.has(node.type);
}

function collect(node: Node): Node[] {
  const out: Node[] = [];
  collectSubstitutions(node, out);
  return out;
}

function commandsSince(units: Unit[], from: number): CommandUnit[] {
  const out: CommandUnit[] = [];
  for (let i = from; i < units.length; i++) if (units[i]!.kind === "command") out.push(units[i] as CommandUnit);
  return out;
}

function describeError(root: Node): string {
  const stack: Node[] = [root];
  while (stack.length) {
    const n = stack.pop()!;
    if (n.isMissing) return `missing "${n.type}" at line ${n.startPosition.row + 1}, column ${n.startPosition.column + 1}`;
    if (n.type === "ERROR") return `unexpected \`${n.text.slice(0, 30)}\` at line ${n.startPosition.row + 1}, column ${n.startPosition.column + 1}`;
    for (let i = n.childCount - 1; i >= 0; i--) {
      const c = n.child(i)!;
      if (c.hasError || c.isMissing || c.type === "ERROR") stack.push(c);
    }
  }
  return "syntax error";
}

/**
 * Text made only of these characters needs no parser: bash reads it as words separated by
 * spaces, with no quoting, expansion (a leading `~` aside), globbing, operators, redirections or
 * comments. Most commands an agent runs look like this, and skipping the parser halves their cost.
 * corpus.test.ts checks that both paths agree on every such command in the corpus.
 */
const PLAIN_TEXT = /^[A-Za-z0-9_\-./=:,@%+~ ]+$/;
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*\+?=/;
/** First words the grammar treats specially; those commands go through the parser. */
const SPECIAL_FIRST_WORDS = new Set([
  "if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until", "do", "done", "in", "function",
  "time", "coproc", "export", "declare", "local", "readonly", "typeset", "unset",
]);

function plainAnalysis(text: string, cwd: string): Analysis | null {
  if (!PLAIN_TEXT.test(text)) return null;
  const words = text.split(" ").filter((w) => w !== "");
  let i = 0;
  while (i < words.length && ASSIGNMENT.test(words[i]!)) i++;
  const name = words[i];
  if (words.length === 0 || (name !== undefined && (SPECIAL_FIRST_WORDS.has(name) || name.includes("=")))) return null;
  const arg = (w: string): Arg => ({ value: w, dynamic: false, glob: false, mask: null, text: w });
  const analyser = new Analyser(cwd, 0);
  analyser.plainCommand(
    text.trim(),
    words.slice(0, i).map((w) => ({ ...arg(w), value: w.slice(0, w.indexOf("=")).replace(/\+$/, "") })),
    words.slice(i).map(arg),
  );
  return { units: analyser.units, floors: analyser.floors };
}

/** Analysis through tree-sitter, whatever the text looks like. */
export function analyseWithParser(text: string, options: AnalyseOptions): Analysis {
  const analyser = new Analyser(options.cwd, 0);
  analyser.program(text, TOP);
  return { units: analyser.units, floors: analyser.floors };
}

export function analyse(text: string, options: AnalyseOptions): Analysis {
  return plainAnalysis(text, options.cwd) ?? analyseWithParser(text, options);
}

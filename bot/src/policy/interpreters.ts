// Shells and language interpreters: does this invocation run a script file, or code that is
// given inline (`-c`, `-e`, an awk program) or read from its input (a pipe, a heredoc, `-`)?
// The last two are never auto-allowed, whatever the policy says about the interpreter.
import type { Arg } from "./words.ts";

interface InterpreterSpec {
  /** Short option letters that take the code inline (in a cluster, e.g. `-xc`, `-ne`). */
  inlineShort: string;
  inlineLong: string[];
  /** Short options that consume an argument, so it is not mistaken for the script. */
  argShort: string;
  argLong: string[];
  /** awk-style: the first operand is the program unless a file option (`-f`) is present. */
  programOperand?: boolean;
  /** Subcommands that evaluate code (`deno eval`). */
  inlineSubcommands?: string[];
  /** The family, so `sh -c` text can be parsed as shell code. */
  shell?: boolean;
}

const SHELL: InterpreterSpec = { inlineShort: "c", inlineLong: ["--command"], argShort: "oO", argLong: ["--rcfile", "--init-file"], shell: true };
const PYTHON: InterpreterSpec = { inlineShort: "c", inlineLong: [], argShort: "WXQ", argLong: ["--check-hash-based-pycs"] };
const JS: InterpreterSpec = {
  inlineShort: "ep",
  inlineLong: ["--eval", "--print"],
  argShort: "r",
  argLong: ["--require", "--import", "--loader", "--experimental-loader", "--input-type", "--conditions", "-C"],
  inlineSubcommands: ["eval", "repl"],
};
const PERL: InterpreterSpec = { inlineShort: "eE", inlineLong: [], argShort: "IMmx", argLong: [] };
const RUBY: InterpreterSpec = { inlineShort: "e", inlineLong: [], argShort: "IrCEFx", argLong: ["--encoding"] };
const PHP: InterpreterSpec = { inlineShort: "rRBE", inlineLong: ["--run", "--process-code", "--process-begin", "--process-end"], argShort: "cdz", argLong: [] };
const LUA: InterpreterSpec = { inlineShort: "e", inlineLong: [], argShort: "l", argLong: [] };
const AWK: InterpreterSpec = { inlineShort: "", inlineLong: [], argShort: "Fv", argLong: ["--field-separator", "--assign"], programOperand: true };
const R: InterpreterSpec = { inlineShort: "e", inlineLong: ["--expr"], argShort: "", argLong: [] };
const POWERSHELL: InterpreterSpec = { inlineShort: "ce", inlineLong: ["-Command", "-command", "-EncodedCommand", "-encodedcommand"], argShort: "", argLong: [] };
const PLAIN_SPEC: InterpreterSpec = { inlineShort: "", inlineLong: [], argShort: "", argLong: [] };

const BY_NAME: Record<string, InterpreterSpec> = {
  sh: SHELL, bash: SHELL, dash: SHELL, zsh: SHELL, ksh: SHELL, mksh: SHELL, ash: SHELL, yash: SHELL, fish: SHELL, csh: SHELL, tcsh: SHELL, rbash: SHELL,
  node: JS, nodejs: JS, deno: JS, bun: JS,
  perl: PERL, ruby: RUBY, irb: PLAIN_SPEC, php: PHP, lua: LUA, luajit: LUA,
  awk: AWK, gawk: AWK, mawk: AWK, nawk: AWK,
  Rscript: R, R: R, osascript: { ...R, inlineLong: [] },
  pwsh: POWERSHELL, powershell: POWERSHELL, tclsh: PLAIN_SPEC, wish: PLAIN_SPEC, jshell: PLAIN_SPEC, ghci: PLAIN_SPEC,
};

function specFor(name: string): InterpreterSpec | null {
  // Own keys only, as for wrappers: `constructor` is not an interpreter.
  if (Object.hasOwn(BY_NAME, name)) return BY_NAME[name]!;
  if (/^(?:python|pypy)[0-9.]*$/.test(name)) return PYTHON;
  if (/^(?:perl|ruby|php|lua)[0-9.]+$/.test(name)) return BY_NAME[name.replace(/[0-9.]+$/, "")]!;
  return null;
}

export function isInterpreter(name: string): boolean {
  return specFor(name) !== null;
}

export type InterpreterUse =
  | { kind: "file" }
  | { kind: "inline"; flag: string; code: string | null; shell: boolean }
  | { kind: "stdin" };

const STDIN_NAMES = new Set(["-", "/dev/stdin", "/proc/self/fd/0", "/dev/fd/0"]);

/** How an interpreter invocation gets its code; null when `name` is no interpreter. */
export function interpreterUse(name: string, argv: Arg[]): InterpreterUse | null {
  const spec = specFor(name);
  if (!spec) return null;
  let inlineFlag: string | null = null;
  let fileOption = false;
  let readsStdin = false;
  let i = 1;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    const v = arg.value;
    if (arg.dynamic) return { kind: "inline", flag: v, code: null, shell: spec.shell ?? false };
    if (v === "--") {
      i++;
      break;
    }
    if (v.startsWith("--") || (spec === POWERSHELL && v.startsWith("-") && v.length > 2)) {
      const [opt] = v.split("=", 1);
      if (spec.inlineLong.includes(opt!)) inlineFlag = opt!;
      else if (spec.argLong.includes(opt!) && !v.includes("=")) i++;
      continue;
    }
    if (v.startsWith("-") && v.length > 1) {
      for (let k = 1; k < v.length; k++) {
        const letter = v[k]!;
        if (spec.inlineShort.includes(letter)) inlineFlag = `-${letter}`;
        if (spec.programOperand && letter === "f") fileOption = true;
        if (spec.shell && letter === "s") readsStdin = true;
        if (spec.argShort.includes(letter) || (spec.programOperand && letter === "f")) {
          if (k === v.length - 1) i++;
          break;
        }
      }
      // Python's `-m module` runs a module by name: a file, as far as code provenance goes.
      if (spec === PYTHON && v === "-m") return { kind: "file" };
      continue;
    }
    break;
  }
  const operand = argv[i];
  if (spec.inlineSubcommands && operand && spec.inlineSubcommands.includes(operand.value)) return { kind: "inline", flag: operand.value, code: null, shell: false };
  if (inlineFlag) {
    const code = operand && !operand.dynamic && !operand.glob ? operand.value : null;
    return { kind: "inline", flag: inlineFlag, code, shell: spec.shell ?? false };
  }
  if (spec.programOperand) {
    if (fileOption) return { kind: "file" };
    return operand ? { kind: "inline", flag: "program", code: null, shell: false } : { kind: "stdin" };
  }
  if (readsStdin || !operand || STDIN_NAMES.has(operand.value)) return { kind: "stdin" };
  return { kind: "file" };
}

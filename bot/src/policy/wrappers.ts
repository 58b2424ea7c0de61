// Commands that run other commands. Transparent wrappers (`timeout 5 rm …`, `env X=1 rm …`,
// `nohup`, `nice`, `command`, `builtin` …) are peeled off and only the inner command is judged.
// Judged wrappers (`sudo`, `xargs`, `find -exec`, `exec`, `su`, `watch` …) are judged themselves
// and so is what they run. Built-ins that run text as code (`eval`, `source`, `trap`, `sh -c` …)
// get a floor, and their text is handed back for parsing when it is static.
import { interpreterUse } from "./interpreters.ts";
import type { Floor, Layer } from "./model.ts";
import type { Arg } from "./words.ts";

export interface Unwrapped {
  layers: Layer[];
  floors: Floor[];
  /** `FOO=bar` operands of `env`, which act like prefixes. */
  env: Arg[];
  /** Static shell code found in `sh -c`, `eval`, `su -c`, `watch` …, to analyse as well. */
  code: string[];
}

interface WrapperResult {
  /** Commands the wrapper runs; empty when it runs none this time (e.g. `env` alone). */
  inners: Arg[][];
  floors?: Floor[];
  env?: Arg[];
  code?: string[];
}

interface Wrapper {
  /** Judged wrappers are a layer of their own; transparent ones are not. */
  judged: boolean;
  unwrap(argv: Arg[]): WrapperResult | null;
}

const MAX_DEPTH = 8;
const SYSTEM_PATH = /^\/(?:usr\/)?(?:local\/)?s?bin\/([^/]+)$/;

/** `/usr/bin/rm` is `rm`; `./rm` and `/tmp/rm` are not, since they may be anything. */
export function canonicalName(arg: Arg): string {
  const m = SYSTEM_PATH.exec(arg.value);
  return m ? m[1]! : arg.value;
}

function canonicalArgv(argv: Arg[]): Arg[] {
  const name = canonicalName(argv[0]!);
  return name === argv[0]!.value ? argv : [{ ...argv[0]!, value: name }, ...argv.slice(1)];
}

function joinStatic(args: Arg[]): string | null {
  if (args.some((a) => a.dynamic || a.glob)) return null;
  return args.map((a) => a.value).join(" ");
}

interface OptionSpec {
  /** Short options that take a value (`-u root`, `-uroot`). */
  short?: string;
  /** Long options that take a value when given without `=`. */
  long?: string[];
}

/** Index of the first operand after options, honouring `--` and options that take values. */
function skipOptions(argv: Arg[], from: number, spec: OptionSpec): number {
  let i = from;
  while (i < argv.length) {
    const v = argv[i]!.value;
    if (v === "--") return i + 1;
    if (!v.startsWith("-") || v === "-") return i;
    if (v.startsWith("--")) {
      i += spec.long?.includes(v) ? 2 : 1;
      continue;
    }
    const letter = v[1]!;
    i += spec.short?.includes(letter) && v.length === 2 ? 2 : 1;
  }
  return i;
}

const simple = (spec: OptionSpec, judged = false): Wrapper => ({
  judged,
  unwrap: (argv) => {
    const i = skipOptions(argv, 1, spec);
    return i < argv.length ? { inners: [argv.slice(i)] } : null;
  },
});

const shellFloor = (wrapper: string): Floor => ({ id: "interpreter", why: `\`${wrapper}\` runs a shell on the given text` });

const WRAPPERS: Record<string, Wrapper> = {
  nohup: simple({}),
  setsid: simple({}),
  builtin: simple({}),
  busybox: simple({}),
  command: {
    judged: false,
    unwrap: (argv) => {
      // `command -v x` only looks a name up; it is judged as itself.
      if (argv.slice(1).some((a) => /^-[a-zA-Z]*[vV]/.test(a.value))) return null;
      const i = skipOptions(argv, 1, {});
      return i < argv.length ? { inners: [argv.slice(i)] } : null;
    },
  },
  timeout: {
    judged: false,
    unwrap: (argv) => {
      const i = skipOptions(argv, 1, { short: "sk", long: ["--signal", "--kill-after"] });
      return i + 1 < argv.length ? { inners: [argv.slice(i + 1)] } : null;
    },
  },
  nice: {
    judged: false,
    unwrap: (argv) => {
      let i = 1;
      while (i < argv.length && argv[i]!.value.startsWith("-") && argv[i]!.value !== "--") i += argv[i]!.value === "-n" ? 2 : 1;
      if (argv[i]?.value === "--") i++;
      return i < argv.length ? { inners: [argv.slice(i)] } : null;
    },
  },
  ionice: {
    judged: false,
    unwrap: (argv) => {
      if (argv.some((a) => a.value === "-p" || a.value === "-P" || a.value === "-u")) return null;
      const i = skipOptions(argv, 1, { short: "cn", long: ["--class", "--classdata"] });
      return i < argv.length ? { inners: [argv.slice(i)] } : null;
    },
  },
  time: simple({ short: "fo", long: ["--format", "--output"] }),
  stdbuf: simple({ short: "ioe", long: ["--input", "--output", "--error"] }),
  coproc: {
    judged: false,
    unwrap: (argv) => ({ inners: argv.length > 1 ? [argv.slice(1)] : [], floors: [{ id: "background", why: "`coproc` runs the command in the background" }] }),
  },
  env: {
    judged: false,
    unwrap: (argv) => {
      const env: Arg[] = [];
      const floors: Floor[] = [];
      const code: string[] = [];
      let i = 1;
      while (i < argv.length) {
        const v = argv[i]!.value;
        if (v === "--") {
          i++;
          break;
        }
        if (v === "-S" || v === "--split-string" || v.startsWith("-S") || v.startsWith("--split-string=")) {
          const text = v === "-S" || v === "--split-string" ? argv[++i] : { ...argv[i]!, value: v.replace(/^-S|^--split-string=/, "") };
          floors.push({ id: "interpreter", why: "`env -S` splits a string into a command" });
          const joined = text ? joinStatic([text, ...argv.slice(i + 1)]) : null;
          if (joined) code.push(joined);
          return { inners: [], floors, env, code };
        }
        if (v === "-u" || v === "-C" || v === "--unset" || v === "--chdir") i += 2;
        else if (v.startsWith("-")) i++;
        else if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(v)) env.push(argv[i++]!);
        else break;
      }
      if (i >= argv.length) return env.length ? { inners: [], env } : null;
      return { inners: [argv.slice(i)], env };
    },
  },
  sudo: {
    judged: true,
    unwrap: (argv) => {
      const i = skipOptions(argv, 1, { short: "ugCDhprtUTR", long: ["--user", "--group", "--close-from", "--chdir", "--host", "--prompt", "--role", "--type", "--other-user", "--command-timeout", "--chroot"] });
      const opts = argv.slice(1, i).map((a) => a.value);
      if (opts.some((o) => /^-[a-zA-Z]*[lvkKVe]/.test(o) && !o.startsWith("--"))) return { inners: [] };
      if (opts.some((o) => /^-[a-zA-Z]*[si]/.test(o) && !o.startsWith("--")) || opts.includes("--shell") || opts.includes("--login")) {
        const code = joinStatic(argv.slice(i));
        return { inners: [], floors: [shellFloor("sudo -s")], code: code ? [code] : [] };
      }
      return { inners: i < argv.length ? [argv.slice(i)] : [] };
    },
  },
  doas: {
    judged: true,
    unwrap: (argv) => {
      const i = skipOptions(argv, 1, { short: "uC" });
      if (argv.slice(1, i).some((a) => a.value === "-s")) return { inners: [], floors: [shellFloor("doas -s")] };
      return { inners: i < argv.length ? [argv.slice(i)] : [] };
    },
  },
  su: {
    judged: true,
    unwrap: (argv) => {
      for (let i = 1; i < argv.length; i++) {
        const v = argv[i]!.value;
        const code = v === "-c" || v === "--command" ? argv[i + 1] : v.startsWith("--command=") ? { ...argv[i]!, value: v.slice(10) } : null;
        if (code) {
          const text = joinStatic([code]);
          return { inners: [], floors: [shellFloor("su -c")], code: text ? [text] : [] };
        }
      }
      return { inners: [], floors: [{ id: "interpreter", why: "`su` starts an interactive shell" }] };
    },
  },
  exec: {
    judged: true,
    unwrap: (argv) => {
      const i = skipOptions(argv, 1, { short: "a" });
      return { inners: i < argv.length ? [argv.slice(i)] : [], floors: [{ id: "exec", why: "`exec` replaces the shell the session runs in" }] };
    },
  },
  xargs: {
    judged: true,
    unwrap: (argv) => {
      const i = skipOptions(argv, 1, {
        short: "adEILnPs",
        long: ["--arg-file", "--delimiter", "--eof", "--max-lines", "--max-args", "--max-procs", "--max-chars", "--process-slot-var"],
      });
      return { inners: i < argv.length ? [argv.slice(i)] : [] };
    },
  },
  find: {
    judged: true,
    unwrap: (argv) => {
      const inners: Arg[][] = [];
      for (let i = 1; i < argv.length; i++) {
        if (!/^-(?:exec|execdir|ok|okdir)$/.test(argv[i]!.value)) continue;
        let end = i + 1;
        while (end < argv.length && argv[end]!.value !== ";" && argv[end]!.value !== "+") end++;
        if (end > i + 1) inners.push(argv.slice(i + 1, end));
        i = end;
      }
      return inners.length ? { inners } : null;
    },
  },
  watch: {
    judged: true,
    unwrap: (argv) => {
      const i = skipOptions(argv, 1, { short: "nq", long: ["--interval", "--equexit"] });
      const direct = argv.slice(1, i).some((a) => a.value === "-x" || a.value === "--exec");
      if (direct) return { inners: i < argv.length ? [argv.slice(i)] : [] };
      const code = joinStatic(argv.slice(i));
      return { inners: [], code: code ? [code] : [] };
    },
  },
};

/** What rules must name literally to allow a judged wrapper layer. */
function explicitWords(name: string, argv: Arg[]): string[] | null {
  if (name === "xargs") return ["xargs"];
  if (name === "find") {
    const flags = argv.filter((a) => /^-(?:exec|execdir|ok|okdir)$/.test(a.value)).map((a) => a.value);
    return flags.length ? [...new Set(flags)] : null;
  }
  return null;
}

/** Floors and code for the innermost command: eval, source, trap, alias, interpreters. */
function innermost(name: string, argv: Arg[], floors: Floor[], code: string[]): void {
  const rest = argv.slice(1);
  switch (name) {
    case "eval": {
      floors.push({ id: "eval", why: "`eval` runs its arguments as shell code" });
      const text = joinStatic(rest);
      if (text) code.push(text);
      return;
    }
    case "source":
    case ".":
      floors.push({ id: "source", why: `\`${name}\` runs a script inside the session's shell` });
      return;
    case "trap":
      if (rest.length >= 2 && !rest[0]!.value.startsWith("-")) {
        floors.push({ id: "eval", why: "`trap` registers code to run later" });
        const text = joinStatic([rest[0]!]);
        if (text) code.push(text);
      }
      return;
    case "alias":
      if (rest.some((a) => a.value.includes("="))) floors.push({ id: "alias", why: "`alias` defines an alias that changes what later commands run" });
      return;
    case "enable":
    case "hash":
      if (rest.length) floors.push({ id: "eval", why: `\`${name}\` changes which program a command name runs` });
      return;
  }
  const use = interpreterUse(name, argv);
  if (!use || use.kind === "file") return;
  if (use.kind === "stdin") floors.push({ id: "interpreter", why: `\`${name}\` runs code read from its input` });
  else {
    floors.push({ id: "interpreter", why: `\`${name} ${use.flag}\` runs code given inline` });
    if (use.shell && use.code !== null) code.push(use.code);
  }
}

export function unwrap(argv: Arg[]): Unwrapped {
  const out: Unwrapped = { layers: [], floors: [], env: [], code: [] };
  let pending: Arg[][] = [argv];
  for (let depth = 0; pending.length && depth < MAX_DEPTH; depth++) {
    const next: Arg[][] = [];
    for (const current of pending) {
      if (current.length === 0) continue;
      const head = current[0]!;
      if (head.dynamic || head.glob) {
        out.floors.push({ id: "dynamic-name", why: `the command name \`${head.text}\` comes from an expansion` });
        out.layers.push({ argv: current, name: head.value, explicit: null });
        continue;
      }
      const canonical = canonicalArgv(current);
      const name = canonical[0]!.value;
      // Own keys only: a command named `constructor` or `toString` must not find Object's methods.
      const wrapper = Object.hasOwn(WRAPPERS, name) ? WRAPPERS[name] : undefined;
      const result = wrapper?.unwrap(canonical) ?? null;
      if (!wrapper || !result) {
        out.layers.push({ argv: canonical, name, explicit: null });
        innermost(name, canonical, out.floors, out.code);
        continue;
      }
      if (wrapper.judged) out.layers.push({ argv: canonical, name, explicit: explicitWords(name, canonical) });
      out.floors.push(...(result.floors ?? []));
      out.env.push(...(result.env ?? []));
      out.code.push(...(result.code ?? []));
      if (!wrapper.judged && result.inners.length === 0) out.layers.push({ argv: canonical, name, explicit: null });
      next.push(...result.inners);
    }
    pending = next;
  }
  if (pending.length) out.floors.push({ id: "dynamic-name", why: "wrappers are nested too deeply to follow" });
  return out;
}

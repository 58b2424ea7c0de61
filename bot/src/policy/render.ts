// The normalised text of a command, which `command` globs match: argv values after quote
// removal, joined by single spaces, each quoted the way a person would need to type it.
// `'r''m' -rf /`, `r\m -rf /` and `rm  -rf  /` all read `rm -rf /`; `rm '-rf /'` does not.
import type { Layer } from "./model.ts";
import type { Arg } from "./words.ts";

const SAFE = /^[A-Za-z0-9_@%+=:,./~^-]+$/;

export function renderArg(arg: Arg): string {
  if (arg.dynamic) return arg.text;
  const v = arg.value;
  if (v === "") return "''";
  if (arg.glob) return renderGlob(v, arg.mask!);
  return SAFE.test(v) ? v : quote(v);
}

function quote(v: string): string {
  return `'${v.replace(/'/g, "'\\''")}'`;
}

/** Unquoted pattern characters stay bare; quoted stretches are quoted when they need it. */
function renderGlob(value: string, mask: string): string {
  let out = "";
  let run = "";
  const flush = () => {
    if (run) out += SAFE.test(run) ? run : quote(run);
    run = "";
  };
  for (let i = 0; i < value.length; i++) {
    if (mask[i] === "u") {
      flush();
      out += value[i];
    } else run += value[i];
  }
  flush();
  return out;
}

export function renderArgv(argv: Arg[]): string {
  return argv.map(renderArg).join(" ");
}

const texts = new WeakMap<Layer, string>();

/** A layer's normalised text, computed once. */
export function layerText(layer: Layer): string {
  let t = texts.get(layer);
  if (t === undefined) {
    t = renderArgv(layer.argv);
    texts.set(layer, t);
  }
  return t;
}

// What the analyser makes of a command line: the units the evaluator judges one by one.
import type { Arg } from "./words.ts";

/** A built-in reason why something can never be allowed without a person looking at it. */
export interface Floor {
  id: string;
  /** Says what was found, for people and for the agent. */
  why: string;
}

/** One command a simple command runs: the command itself, or one found inside a wrapper. */
export interface Layer {
  /** With a system path such as `/usr/bin/rm` shortened to `rm`. */
  argv: Arg[];
  name: string;
  /** Literal words an allow rule must name for this layer (`xargs`, `-exec`), or null. */
  explicit: string[] | null;
}

export interface CommandUnit {
  kind: "command";
  /** The simple command as written. */
  text: string;
  argv: Arg[];
  /** `FOO=bar` prefixes, including those given through `env`. */
  assignments: Arg[];
  /** Layers that rules judge: judged wrappers (sudo, xargs, find -exec …) and the innermost command. */
  layers: Layer[];
  floors: Floor[];
  /** Commands whose output this one reads: earlier pipeline stages and substitutions in its words. */
  sources: CommandUnit[];
  /** The directory relative paths resolve against. */
  base: string;
}

export interface RedirectUnit {
  kind: "redirect";
  /** `> out.txt`, `2>> log` … as written. */
  text: string;
  write: boolean;
  target: Arg;
  floors: Floor[];
  base: string;
}

export type Unit = CommandUnit | RedirectUnit;

export interface Analysis {
  units: Unit[];
  /** Problems with the whole text (parse errors): they apply to the decision, not to one unit. */
  floors: Floor[];
}

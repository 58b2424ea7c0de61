// The bash parser: tree-sitter-bash through web-tree-sitter. Loading the WASM grammar is async and
// costs a few milliseconds, so it happens once, on first use, and the parser is reused for every
// command (parsing is synchronous and the process is single-threaded).
import { createRequire } from "node:module";
import { Language, Parser, type Tree } from "web-tree-sitter";

let parser: Parser | null = null;
let loading: Promise<Parser> | null = null;

async function load(): Promise<Parser> {
  const require = createRequire(import.meta.url);
  await Parser.init();
  const bash = await Language.load(require.resolve("tree-sitter-bash/tree-sitter-bash.wasm"));
  const p = new Parser();
  p.setLanguage(bash);
  parser = p;
  return p;
}

export function ensureBashParser(): Promise<Parser> {
  loading ??= load();
  return loading;
}

/** Parses bash text. The caller must `delete()` the tree when done with it. */
export function parseBash(text: string): Tree {
  if (!parser) throw new Error("the bash parser is not initialised; await ensureBashParser() (loadPolicy does) first");
  const tree = parser.parse(text);
  if (!tree) throw new Error("tree-sitter returned no tree");
  return tree;
}
